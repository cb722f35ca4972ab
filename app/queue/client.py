"""The API's side of the job queue: enqueue refreshes (deduplicated by a fixed job id) and read their state."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import default_queue_name, health_check_key_suffix
from arq.jobs import Job

from app.embeddings.runs import load_recent_runs, load_run_by_job_id
from app.errors import Unavailable, check_limit
from app.queue.redis_server import resolve_redis_url
from app.recs.models import load_model_by_job_id
from app.settings import Settings
from app.status.doctor import Check

log = logging.getLogger(__name__)

# Function names the worker registers (jobs/worker.py) and the fixed ids that deduplicate them.
REFRESH_FUNCTION = "refresh_embeddings"
REFRESH_JOB_ID = "refresh-embeddings"
OUTBOX_FUNCTION = "process_outbox"
OUTBOX_JOB_ID = "process-outbox"
TRAIN_FUNCTION = "train_recommender"
TRAIN_JOB_ID = "train-recommender"
INDEX_FUNCTION = "rebuild_vector_index"
INDEX_JOB_ID = "rebuild-vector-index"
CHUNK_FUNCTION = "embed_chunk"
# Where arq's worker writes its heartbeat (every health_check_interval seconds, with a TTL a little longer).
HEALTH_KEY = f"{default_queue_name}{health_check_key_suffix}"

# RuntimeError: the embedded redis-server could not be started.
_REDIS_DOWN = (redis.RedisError, OSError, RuntimeError)


@dataclass(frozen=True)
class QueuedJob:
    """A job id, what the queue says about it, and the latest embedding run it started."""

    id: str
    status: str  # queued, deferred, in_progress, complete, not_found
    run: dict[str, Any] | None = None  # the embedding run a refresh job started
    model: dict[str, Any] | None = None  # the model a training job trained


def _alive(status: str, record: dict[str, Any] | None, dead: str) -> str:
    """arq says in_progress until the job's time limit; a record whose process died says otherwise."""
    if status == "in_progress" and record is not None and record["status"] == dead:
        return "dead"
    return status


class JobQueue:
    """A lazily connected arq pool (the API starts and answers even while Redis is down) and the runs' audit rows."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool | None = None) -> None:
        self.settings = settings
        self._db = pool
        self._redis: ArqRedis | None = None

    async def _with_record(self, job_id: str, status: str) -> QueuedJob:
        """The queue's status plus what the job left in the database: its embedding run or its model."""
        if self._db is None:
            return QueuedJob(job_id, status)
        async with self._db.acquire() as conn:
            if job_id == TRAIN_JOB_ID:
                model = await load_model_by_job_id(conn, job_id)
                return QueuedJob(job_id, _alive(status, model, "interrupted"), model=model)
            run = await load_run_by_job_id(conn, job_id)
            return QueuedJob(job_id, _alive(status, run, "interrupted"), run=run)

    async def recent_runs(self, limit: int) -> list[dict[str, Any]]:
        """The newest embedding runs, newest first."""
        check_limit(limit)
        assert self._db is not None, "JobQueue needs the database pool to read runs"
        async with self._db.acquire() as conn:
            return await load_recent_runs(conn, limit)

    async def _pool(self) -> ArqRedis:
        if self._redis is None:
            url = resolve_redis_url(self.settings)
            connection = RedisSettings.from_dsn(url)
            # No retries: a request should fail fast (UNAVAILABLE), not hang while Redis is down.
            connection.conn_retries, connection.conn_timeout = 0, 2
            self._redis = await create_pool(connection)
        return self._redis

    async def _enqueue(self, function: str, job_id: str, **kwargs: Any) -> QueuedJob:
        """Queue `function` under a fixed job id: while that job is queued or running, it is returned instead."""
        try:
            pool = await self._pool()
            job = await pool.enqueue_job(function, _job_id=job_id, **kwargs)
            status = await (job or Job(job_id, pool)).status()
        except _REDIS_DOWN as error:
            raise Unavailable(f"the job queue (Redis) is unreachable: {error}") from None
        return await self._with_record(job_id, status.value)

    async def enqueue_refresh(self, *, full: bool) -> QueuedJob:
        """Queue an embedding refresh (the full catalogue with `full`)."""
        return await self._enqueue(REFRESH_FUNCTION, REFRESH_JOB_ID, full=full, trigger="on_demand")

    async def enqueue_training(self) -> QueuedJob:
        """Queue a training of the collaborative model."""
        return await self._enqueue(TRAIN_FUNCTION, TRAIN_JOB_ID, trigger="on_demand")

    async def enqueue_index_rebuild(self) -> QueuedJob:
        """Queue a rebuild of the vector index (built concurrently, swapped in once valid)."""
        return await self._enqueue(INDEX_FUNCTION, INDEX_JOB_ID)

    async def health(self) -> list[Check]:
        """Redis answers; a worker wrote its heartbeat within its health-check interval."""
        try:
            pool = await self._pool()
            await pool.ping()
            beat = await pool.get(HEALTH_KEY)
        except _REDIS_DOWN as error:
            self._redis = None
            fix = "start Redis (or unset REDIS_URL for the embedded one); `movierec up` starts both"
            return [
                Check("redis", False, f"unreachable: {error}", fix),
                Check("worker", False, "unknown while Redis is unreachable", "start Redis, then `movierec worker`"),
            ]
        worker = (
            Check("worker", True, f"heartbeat: {beat.decode(errors='replace')}")
            if beat
            else Check("worker", False, "no heartbeat in the last minute", "start one: `movierec worker`")
        )
        return [Check("redis", True, "reachable"), worker]

    async def job_status(self, job_id: str) -> QueuedJob:
        """What the queue knows about a job id (not_found once a finished job's result expired)."""
        try:
            status = await Job(job_id, await self._pool()).status()
        except _REDIS_DOWN as error:
            raise Unavailable(f"the job queue (Redis) is unreachable: {error}") from None
        return await self._with_record(job_id, status.value)

    async def nudge_outbox(self) -> bool:
        """Ask the worker to embed the outbox now; False (work kept in the outbox) when Redis is down."""
        try:
            pool = await self._pool()
            await pool.enqueue_job(OUTBOX_FUNCTION, _job_id=OUTBOX_JOB_ID)
        except _REDIS_DOWN as error:
            log.warning("could not enqueue the outbox job (%s); the sweeper will pick the work up", error)
            self._redis = None  # reconnect next time
            return False
        return True

    async def close(self) -> None:
        """Close the Redis connection, if one was opened."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
