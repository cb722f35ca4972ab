"""Settings from the environment, and the project's packaging promises."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

import schema
from app.embeddings.model import DeviceUnavailable, model_dimension, resolve_device
from app.embeddings.paths import resolve_model_path
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/movies")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("MOVIEREC_INDEX_TYPE", "ivfflat")
    monkeypatch.setenv("MOVIEREC_BATCH_SIZE", "32")
    settings = Settings()
    assert settings.database_url == "postgresql://db/movies"
    assert settings.redis_url == "redis://cache:6379/0"
    assert (settings.index_type, settings.batch_size, settings.index_metric) == ("ivfflat", 32, "cosine")


def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIEREC_INDEX_TYPE", "annoy")
    with pytest.raises(ValidationError, match="index_type"):
        Settings()
    monkeypatch.delenv("MOVIEREC_INDEX_TYPE")
    with pytest.raises(ValidationError, match="at least twice"):
        Settings(hnsw_m=48, hnsw_ef_construction=64)


def test_the_bundled_model_is_found_offline() -> None:
    assert Path(resolve_model_path("all-MiniLM-L6-v2"), "model.safetensors").is_file()
    assert model_dimension("all-MiniLM-L6-v2") == 384


def test_schema_package_is_ours_not_pypi_schema() -> None:
    assert Path(schema.__file__).resolve().parent == ROOT / "schema"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("schema")


def test_pyproject_pins_torch_and_declares_the_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert project["scripts"] == {"movierec": "app.cli:main"}
    strawberry = next(d for d in project["dependencies"] if d.startswith("strawberry-graphql"))
    assert strawberry == "strawberry-graphql>=0.327.2"


def test_every_setting_is_documented_in_the_readme() -> None:
    from pathlib import Path

    from app.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    aliases = {
        "database_url": "DATABASE_URL",
        "redis_url": "REDIS_URL",
        "database_replica_urls": "DATABASE_REPLICA_URLS",
    }
    missing = [
        aliases.get(name, f"MOVIEREC_{name.upper()}")
        for name in Settings.model_fields
        if f"`{aliases.get(name, f'MOVIEREC_{name.upper()}')}`" not in readme
    ]
    assert missing == []


def test_a_cuda_device_that_is_not_there_is_refused_before_the_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU here: torch's answers are those of a one-GPU machine. The real one ran bench/gpu.py
    # (docs/benchmarks.md): unchecked, "cuda:1" failed only at the first tensor ("invalid device ordinal").
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert [resolve_device(d) for d in ("auto", "cuda", "cuda:0", "cpu")] == ["cuda", "cuda", "cuda:0", "cpu"]
    for missing in ("cuda:1", "cuda:x", "cuda0", "cuda:"):
        with pytest.raises(DeviceUnavailable, match=f"MOVIEREC_DEVICE={missing} but this machine has 1 CUDA device"):
            resolve_device(missing)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceUnavailable, match="sees no CUDA device"):
        resolve_device("cuda:0")
