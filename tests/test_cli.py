"""The `movierec` command as a user runs it: real processes against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[1]


def movierec(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process with DATABASE_URL set."""
    environment = {**os.environ, "DATABASE_URL": database_url, "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def test_concurrent_migrate_commands(database_url: str) -> None:
    environment = {**os.environ, "DATABASE_URL": database_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "app", "migrate"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs == [
        "migrations: applied 0001_catalogue\nmigrations: applied 0002_jobs\nmigrations: applied 0003_recommender\n"
        "migrations: applied 0004_rating_stats\nmigrations: applied 0005_search\nmigrations: applied 0006_sources\n"
        "migrations: applied 0007_generations\nmigrations: applied 0008_chunks",
        "migrations: nothing to do",
    ]


def test_commands_refuse_an_unmigrated_database(database_url: str) -> None:
    result = movierec(database_url, "stats")
    assert result.returncode == 1 and "run `movierec migrate` first" in result.stderr


def test_a_model_of_another_size_is_a_new_generation_not_an_error(database_url: str, tmp_path: Path) -> None:
    assert movierec(database_url, "migrate").returncode == 0
    model = tmp_path / "bigger-model"
    (model / "1_Pooling").mkdir(parents=True)
    pooling = {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
    (model / "modules.json").write_text(json.dumps([pooling]))
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 768}))
    stats = movierec(database_url, "stats", MOVIEREC_MODEL=str(model))
    assert stats.returncode == 0, stats.stderr
    assert "active: generation 1, all-MiniLM-L6-v2 (384 dimensions)" in stats.stdout
    status = movierec(database_url, "generations", MOVIEREC_MODEL=str(model))
    assert status.returncode == 0 and f"configured: {model}, not the active model" in status.stdout
    refused = movierec(database_url, "generations", "switch")
    assert refused.returncode == 1 and "no generation is being backfilled" in refused.stderr


def test_import_reports_and_malformed_file_fails_cleanly(database_url: str) -> None:
    movierec(database_url, "migrate")
    good = movierec(database_url, "import", "tmdb", str(FIXTURES / "tmdb" / "tmdb_5000_movies.csv"))
    assert good.returncode == 0
    assert "inserted 3, updated 0, unchanged 0, skipped 3 (of 6)" in good.stdout
    bad = movierec(database_url, "import", "wikipedia", str(FIXTURES / "wikipedia_malformed.json"))
    assert bad.returncode == 1
    assert "wikipedia_malformed.json:4: malformed JSON" in bad.stderr and "Traceback" not in bad.stderr
    missing = movierec(database_url, "import", "wikipedia", "/no/such/file.json")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


@pytest.mark.model
def test_setup_loads_embeds_indexes_and_doctor_passes(database_url: str) -> None:
    result = movierec(database_url, "setup")
    assert result.returncode == 0, result.stderr
    assert "coverage: 100.0%" in result.stdout and "index: hnsw vector_cosine_ops" in result.stdout
    again = movierec(database_url, "setup")
    assert "demo catalogue: database not empty, skipped" in again.stdout and "embedded 0 " in again.stdout
    doctor = movierec(database_url, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert doctor.stdout.count("OK  ") == 9 and "OK   GraphiQL files: installed" in doctor.stdout
    assert "OK   shared buffers: " in doctor.stdout  # the demo's indexes fit the default 128 MB
    assert "OK   embedding generations: active: generation 1, all-MiniLM-L6-v2 (384 dimensions)" in doctor.stdout
    # The search evaluation runs on any catalogue; queries whose films this one lacks are left out, said so.
    searched = movierec(database_url, "evaluate-search")
    assert searched.returncode == 0, searched.stderr
    assert "| class | queries | HYBRID R@10 |" in searched.stdout and "| all |" in searched.stdout
    assert "not in this catalogue, left out: a sweeping historical epic about ancient Rome" in searched.stdout
    dedupe = movierec(database_url, "dedupe", "--dry-run")
    assert dedupe.returncode == 0 and "would merge (dry run) 0 duplicate records into 0 films" in dedupe.stdout


def test_bad_settings_and_devices_are_one_line_not_a_traceback(database_url: str) -> None:
    cron = movierec(database_url, "stats", MOVIEREC_REFRESH_CRON="61 * * *")
    assert cron.returncode == 2 and "Traceback" not in cron.stderr
    assert cron.stderr.startswith("invalid setting MOVIEREC_REFRESH_CRON:")
    train_cron = movierec(database_url, "stats", MOVIEREC_TRAIN_CRON="every day")
    assert train_cron.returncode == 2 and "MOVIEREC_TRAIN_CRON" in train_cron.stderr
    import torch

    if not torch.cuda.is_available():  # on a GPU machine MOVIEREC_DEVICE=cuda is fine
        device = movierec(database_url, "serve", MOVIEREC_DEVICE="cuda")
        assert device.returncode == 2 and "Traceback" not in device.stderr
        assert "MOVIEREC_DEVICE=cuda" in device.stderr and "no CUDA device" in device.stderr
