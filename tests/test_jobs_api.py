"""Jobs through the API and as real processes: dedup, Redis outages, a worker killed mid-refresh."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.embeddings.model import SentenceTransformerEmbedder
from app.queue.redis_server import start_embedded_redis, stop_embedded_redis
from app.settings import Settings
from app.vectors import as_array
from tests.api_support import running_api
from tests.worker_support import run_burst_worker

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]
REFRESH = "mutation($full: Boolean!) { refreshEmbeddings(full: $full) { id status run { status embedded } } }"
NEW_MOVIE = (
    'mutation { upsertMovie(input: {title: "Night Train to Lisbon Redux", year: 2024, '
    'overview: "A teacher follows a stranger onto a night train.", genres: ["Drama"]}) { id hasEmbedding } }'
)


def test_refresh_embeddings_twice_returns_the_same_job(
    demo_database_url: str, redis_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    for api in running_api(demo_database_url, model, tmp_path, redis_url=redis_url):
        first = api.data(REFRESH, {"full": True}, user=1, admin=True)["refreshEmbeddings"]
        second = api.data(REFRESH, {"full": False}, user=1, admin=True)["refreshEmbeddings"]
        assert first["id"] == second["id"] and first["status"] == second["status"] == "queued"
        settings = Settings(database_url=demo_database_url, redis_url=redis_url, data_dir=tmp_path)
        run_burst_worker(settings, model)
        job = api.data('{ refreshJob(id: "%s") { status run { status embedded } } }' % first["id"], user=1, admin=True)[
            "refreshJob"
        ]
        assert job["status"] == "not_found"  # finished; the run row is the lasting record
        assert job["run"] == {"status": "succeeded", "embedded": 206}  # the queued job was the full one
        runs = api.data("{ embeddingRuns(limit: 5) { trigger full embedded } }")["embeddingRuns"]
        assert {"trigger": "on_demand", "full": True, "embedded": 206} in runs
        assert api.error_code(REFRESH, {"full": False}, user=2) == "FORBIDDEN"


def test_with_redis_down_upsert_commits_and_the_movie_is_embedded_later(
    demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "redis"
    url = start_embedded_redis(folder)
    stop_embedded_redis(folder)  # Redis is down
    for api in running_api(demo_database_url, model, tmp_path, redis_url=url):
        created = api.data(NEW_MOVIE, user=1, admin=True)["upsertMovie"]
        assert created["hasEmbedding"] is False
        pending = api.sql("SELECT count(*) FROM embedding_outbox WHERE processed_at IS NULL")[0][0]
        assert pending == 1
        assert api.error_code(REFRESH, {"full": False}, user=1, admin=True) == "UNAVAILABLE"
        start_embedded_redis(folder)  # Redis is back
        settings = Settings(
            database_url=demo_database_url,
            redis_url=url,
            data_dir=tmp_path,
            outbox_grace_seconds=0,
            refresh_cron="0 4 1 1 *",
        )
        run_burst_worker(settings, model)
        movie = api.data('{ movie(id: "%s") { hasEmbedding } }' % created["id"])["movie"]
        assert movie["hasEmbedding"] is True
        assert api.sql("SELECT count(*) FROM embedding_outbox WHERE processed_at IS NULL")[0][0] == 0
        similar = api.data('{ similarMovies(movieId: "%s", limit: 3) { items { rank } } }' % created["id"])
        assert len(similar["similarMovies"]["items"]) == 3
    stop_embedded_redis(folder)


def test_a_worker_killed_mid_refresh_then_restarted_ends_in_the_same_state(
    demo_database_url: str, redis_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    for api in running_api(demo_database_url, model, tmp_path, redis_url=redis_url):
        reference = {r["id"]: as_array(r["embedding"]) for r in api.sql("SELECT id, embedding FROM movies")}
        api.sql("UPDATE movies SET embedding = NULL, embedded_hash = NULL, embedded_at = NULL")
        env = {
            **os.environ,
            "DATABASE_URL": demo_database_url,
            "REDIS_URL": redis_url,
            "HF_HUB_OFFLINE": "1",
            "MOVIEREC_DATA_DIR": str(tmp_path),
            "MOVIEREC_EMBED_BATCH": "16",
            "MOVIEREC_TORCH_THREADS": "1",
            "MOVIEREC_REFRESH_TIMEOUT_S": "15",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            api.data(REFRESH, {"full": False}, user=1, admin=True)
            deadline = time.time() + 120
            while api.sql("SELECT count(embedding) FROM movies")[0][0] < 32 and time.time() < deadline:
                time.sleep(0.1)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            done = api.sql("SELECT count(embedding) FROM movies")[0][0]
            assert 32 <= done < 206, "the worker should be killed part-way through"
            # Seen as dead at once (its advisory lock went with its connection), long before the time limit.
            dead = api.data('{ refreshJob(id: "refresh-embeddings") { status run { status } } }', user=1, admin=True)
            assert dead["refreshJob"] == {"status": "dead", "run": {"status": "interrupted"}}
        finally:
            worker.kill()
        # A restarted worker: arq redelivers the killed job once its time limit (15 s here) has passed.
        settings = Settings(
            database_url=demo_database_url,
            redis_url=redis_url,
            data_dir=tmp_path,
            embed_batch=16,
            refresh_timeout_s=15,
            refresh_cron="0 4 1 1 *",
        )
        started = time.time()
        run_burst_worker(settings, model, cron=False)
        assert time.time() - started < 90
        rows = api.sql("SELECT id, embedding, embedded_hash = content_hash AS current FROM movies")
        assert all(r["current"] for r in rows)
        for row in rows:
            assert as_array(row["embedding"]) == pytest.approx(reference[row["id"]], abs=1e-5)
        runs = api.sql("SELECT status, job_id FROM embedding_runs ORDER BY id")
        assert [r["status"] for r in runs][-2:] == ["interrupted", "succeeded"]
        assert {r["job_id"] for r in runs[-2:]} == {"refresh-embeddings"}  # the same job, delivered twice


def test_worker_health_check(demo_database_url: str, redis_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": demo_database_url,
        "REDIS_URL": redis_url,
        "HF_HUB_OFFLINE": "1",
        "MOVIEREC_DATA_DIR": str(tmp_path),
    }
    check = [sys.executable, "-m", "app", "worker", "--check"]
    assert subprocess.run(check, cwd=ROOT, env=env, capture_output=True).returncode == 1  # no worker yet
    worker = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 90
        while subprocess.run(check, cwd=ROOT, env=env, capture_output=True).returncode != 0:
            assert time.time() < deadline, "the worker never reported healthy"
            time.sleep(1)
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0  # SIGTERM: a clean shutdown


def test_arq_runs_the_worker_class_as_it_stands(
    demo_database_url: str, redis_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """`arq jobs.worker.WorkerSettings`, configured by the environment alone, runs a queued refresh."""
    for api in running_api(demo_database_url, model, tmp_path, redis_url=redis_url):
        api.sql("UPDATE movies SET embedded_hash = NULL WHERE id <= 3")
        queued = api.data(REFRESH, {"full": False}, user=1, admin=True)["refreshEmbeddings"]
        assert queued["status"] == "queued"
        env = {
            **os.environ,
            "DATABASE_URL": demo_database_url,
            "REDIS_URL": redis_url,
            "HF_HUB_OFFLINE": "1",
            "MOVIEREC_DATA_DIR": str(tmp_path),
            "MOVIEREC_TORCH_THREADS": "1",
        }
        arq = Path(sys.executable).parent / "arq"
        done = subprocess.run(
            [str(arq), "jobs.worker.WorkerSettings", "--burst"], cwd=ROOT, env=env, capture_output=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-2000:]
        runs = api.data("{ embeddingRuns(limit: 1) { trigger status embedded } }")["embeddingRuns"]
        assert runs == [{"trigger": "on_demand", "status": "succeeded", "embedded": 3}]


def test_the_worker_survives_a_redis_outage_and_catches_up(
    demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "own-redis"
    url = start_embedded_redis(folder)
    env = {
        **os.environ,
        "DATABASE_URL": demo_database_url,
        "REDIS_URL": url,
        "HF_HUB_OFFLINE": "1",
        "MOVIEREC_DATA_DIR": str(tmp_path),
        "MOVIEREC_TORCH_THREADS": "1",
        "MOVIEREC_OUTBOX_GRACE_SECONDS": "0",
    }
    check = [sys.executable, "-m", "app", "worker", "--check"]

    def healthy() -> bool:
        return subprocess.run(check, cwd=ROOT, env=env, capture_output=True).returncode == 0

    def wait_for(condition: object, seconds: float, what: str) -> None:
        deadline = time.time() + seconds
        while not condition():  # type: ignore[operator]
            assert time.time() < deadline, what
            time.sleep(0.5)

    worker = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(healthy, 90, "the worker never reported healthy")
        stop_embedded_redis(folder)  # the outage
        time.sleep(4)
        assert worker.poll() is None, "the worker exited on the Redis outage"
        assert not healthy()  # nobody can vouch for it while Redis is away
        start_embedded_redis(folder)  # Redis is back
        wait_for(healthy, 90, "the worker did not come back after the outage")
        for api in running_api(demo_database_url, model, tmp_path / "api", redis_url=url):
            created = api.data(NEW_MOVIE, user=1, admin=True)["upsertMovie"]
            query = '{ movie(id: "%s") { hasEmbedding } }' % created["id"]
            embedded = lambda api=api, query=query: api.data(query)["movie"]["hasEmbedding"]  # noqa: E731
            wait_for(embedded, 60, "the movie was never embedded")
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0
        stop_embedded_redis(folder)
