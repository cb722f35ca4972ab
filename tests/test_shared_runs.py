"""A full refresh shared by real worker processes (`movierec worker`): split into chunk jobs on the arq
queue, every movie embedded once, one progress number, and a worker killed mid-run whose chunks another
worker finishes once arq delivers them again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings

from app.embeddings.chunks import split
from tests.api_support import Api

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]


def test_split_makes_consecutive_chunks_that_cover_every_id() -> None:
    assert split([3, 5, 8, 13, 21], 2) == [(3, 5), (8, 13), (21, 21)]
    assert split([], 10) == []


# The chunks a worker process holds right now (each under a two-key advisory lock: run id, first id).
HELD_CHUNKS = """
SELECT l.classid::bigint AS run_id, l.objid::bigint AS first_id
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted AND a.application_name = $1
"""


def _worker(database_url: str, redis_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HF_HUB_OFFLINE": "1",
        "MOVIEREC_DATA_DIR": str(data_dir),
        "MOVIEREC_REFRESH_CHUNK_SIZE": "20",
        "MOVIEREC_EMBED_BATCH": "10",
        "MOVIEREC_TORCH_THREADS": "1",
        # A dead worker's chunk is delivered again once its time limit has passed.
        "MOVIEREC_REFRESH_TIMEOUT_S": "15",
        "MOVIEREC_REFRESH_CRON": "0 4 1 1 *",
        "MOVIEREC_TRAIN_CRON": "0 4 1 1 *",
    }
    return subprocess.Popen([sys.executable, "-m", "app", "worker"], cwd=ROOT, env=environment)


def _wait(api: Api, query: str, ready: Any, seconds: float, *args: Any) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        rows = api.sql(query, *args)
        if ready(rows):
            return rows
        assert time.monotonic() < deadline, f"gave up waiting: {rows}"
        time.sleep(0.25)


def test_two_worker_processes_share_a_full_refresh_and_survive_one_dying(
    api: Api, redis_url: str, tmp_path: Path
) -> None:
    started = api.sql("SELECT now() AS at")[0]["at"]
    workers = [_worker(api.database_url, redis_url, tmp_path / f"w{i}") for i in range(2)]
    try:

        async def enqueue() -> None:
            pool = await create_pool(RedisSettings.from_dsn(redis_url))
            await pool.enqueue_job("refresh_embeddings", full=True, trigger="shared-test", _job_id="shared-test")
            await pool.aclose()

        asyncio.run(enqueue())
        run = _wait(api, "SELECT id, chunks FROM embedding_runs WHERE trigger = 'shared-test'", bool, 90)[0]
        assert run["chunks"] == 11  # 206 movies in chunks of 20
        # Once both have embedded a chunk, kill the first while it holds another: that chunk is orphaned.
        _wait(api, "SELECT count(DISTINCT worker) FROM embedding_run_chunks WHERE done", lambda r: r[0][0] >= 2, 90)
        held = _wait(api, HELD_CHUNKS, bool, 60, f"movierec-worker:{workers[0].pid}")[0]
        workers[0].send_signal(signal.SIGKILL)
        finished = _wait(
            api,
            "SELECT status, embedded, chunks_done, chunks FROM embedding_runs WHERE id = $1",
            lambda r: r[0]["status"] != "running",
            120,
            run["id"],
        )[0]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    assert finished["status"] == "succeeded" and finished["chunks_done"] == finished["chunks"] == 11
    chunks = api.sql("SELECT sum(embedded) AS embedded, count(DISTINCT worker) AS workers FROM embedding_run_chunks")[0]
    assert chunks["workers"] >= 2
    # arq delivered the orphaned chunk again once its time limit passed, and the other worker did it.
    orphan = api.sql("SELECT done, worker FROM embedding_run_chunks WHERE run_id = $1 AND first_id = $2", *held)[0]
    assert orphan["done"] and orphan["worker"].endswith(f":{workers[1].pid}")
    # Every movie embedded once by the run: batches count into the run as they commit, so a chunk the
    # killed worker had half done counts its committed half there, and its second delivery (arq's, after
    # the time limit) embeds and records only the rest in the chunk's row.
    assert finished["embedded"] == 206 and chunks["embedded"] <= 206
    fresh = api.sql("SELECT count(*) FROM movies WHERE embedded_at > $1", started)[0][0]
    assert fresh == 206
    runs = api.data("{ embeddingRuns(limit: 1) { status embedded } }", user=1, admin=True)["embeddingRuns"]
    assert runs == [{"status": "succeeded", "embedded": 206}]


def test_a_new_models_backfill_is_shared_in_chunks_and_switches_when_the_last_one_ends(
    api: Api, redis_url: str, tmp_path: Path
) -> None:
    from app.settings import Settings
    from tests.fakes import FakeEmbedder
    from tests.worker_support import drain

    smaller = FakeEmbedder(dimension=256, model_name="smaller-model")
    settings = Settings(
        database_url=api.database_url, redis_url=redis_url, data_dir=tmp_path, refresh_chunk_size=50, embed_batch=25
    )
    # The worker sees another model configured and queues a model-change refresh; with chunks set, that
    # is a shared run of the next generation, its chunks run by the same (burst) worker here.
    asyncio.run(drain(settings, smaller))
    run = api.sql("SELECT slot, status, chunks, chunks_done, embedded FROM embedding_runs ORDER BY id DESC LIMIT 1")[0]
    assert dict(run) == {"slot": "next", "status": "succeeded", "chunks": 5, "chunks_done": 5, "embedded": 206}
    generations = api.data("{ stats { generations { slot model dimension } } }")["stats"]["generations"]
    assert {"slot": "active", "model": "smaller-model", "dimension": 256} in generations
