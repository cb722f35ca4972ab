"""A full refresh shared by real worker processes (`movierec worker`): split into chunk jobs on the arq
queue, every movie embedded once, one progress number, and a worker killed mid-run whose chunks another
worker finishes once arq delivers them again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from asyncpg import connect

from app.embeddings.chunks import split
from tests.api_support import Api

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]


def test_split_makes_consecutive_chunks_that_cover_every_id() -> None:
    assert split([3, 5, 8, 13, 21], 2) == [(3, 5), (8, 13), (21, 21)]
    assert split([], 10) == []


# The worker process holding the chunk that holds a movie (a chunk's lock has two keys: run id, first id).
HELD_CHUNK = """
SELECT c.first_id, a.application_name AS holder
FROM embedding_run_chunks c
JOIN pg_locks l ON l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
    AND l.classid::bigint = c.run_id AND l.objid::bigint = c.first_id
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE c.run_id = $1 AND $2 BETWEEN c.first_id AND c.last_id AND a.application_name = ANY($3::text[])
"""


TERMINATE_SESSIONS = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1"


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


@contextmanager
def _row_locked(database_url: str, movie_id: int) -> Iterator[None]:
    """Hold a row lock on one movie (an open transaction on a connection of its own) until the block ends."""
    locked, release = threading.Event(), threading.Event()

    async def hold() -> None:
        conn = await connect(database_url)
        try:
            async with conn.transaction():
                await conn.execute("SELECT id FROM movies WHERE id = $1 FOR UPDATE", movie_id)
                locked.set()
                await asyncio.to_thread(release.wait)
        finally:
            await conn.close()

    holder = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    holder.start()
    assert locked.wait(30), "could not lock the movie row"
    try:
        yield
    finally:
        release.set()
        holder.join(30)


def test_two_worker_processes_share_a_full_refresh_and_survive_one_dying(
    api: Api, redis_url: str, tmp_path: Path
) -> None:
    started = api.sql("SELECT now() AS at")[0]["at"]
    last_movie = api.sql("SELECT max(id) FROM movies")[0][0]
    workers = [_worker(api.database_url, redis_url, tmp_path / f"w{i}") for i in range(2)]
    names = [f"movierec-worker:{worker.pid}" for worker in workers]
    try:
        # The last movie's row stays locked, so the worker that takes the last chunk blocks while writing
        # it, holding that chunk: the test kills it there, whatever the two workers' speeds.
        with _row_locked(api.database_url, last_movie):

            async def enqueue() -> None:
                pool = await create_pool(RedisSettings.from_dsn(redis_url))
                await pool.enqueue_job("refresh_embeddings", full=True, trigger="shared-test", _job_id="shared-test")
                await pool.aclose()

            asyncio.run(enqueue())
            run = _wait(api, "SELECT id, chunks FROM embedding_runs WHERE trigger = 'shared-test'", bool, 90)[0]
            assert run["chunks"] == 11  # 206 movies in chunks of 20
            held = _wait(api, HELD_CHUNK, bool, 90, run["id"], last_movie, names)[0]
            # Both have embedded a chunk; the holder of the blocked one is the worker to kill.
            _wait(api, "SELECT count(DISTINCT worker) FROM embedding_run_chunks WHERE done", lambda r: r[0][0] >= 2, 90)
            dying, survivor = (0, 1) if held["holder"] == names[0] else (1, 0)
            workers[dying].send_signal(signal.SIGKILL)
            workers[dying].wait(30)
            # A backend waiting on a lock notices its client's death only when it next reads; end it as the
            # server would once the connection is found gone (its open transaction rolls back).
            api.sql(TERMINATE_SESSIONS, held["holder"])
        finished = _wait(
            api,
            "SELECT status, embedded, chunks_done, chunks FROM embedding_runs WHERE id = $1",
            lambda r: r[0]["status"] != "running",
            120,
            run["id"],
        )[0]
    finally:
        for worker in workers:
            if worker.poll() is None:
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
    orphan = api.sql(
        "SELECT done, worker FROM embedding_run_chunks WHERE run_id = $1 AND first_id = $2", run["id"], held["first_id"]
    )[0]
    assert orphan["done"] and orphan["worker"].endswith(f":{workers[survivor].pid}")
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
