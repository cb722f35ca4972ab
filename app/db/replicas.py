"""Read replicas: the API's reads go to PostgreSQL streaming replicas, its writes (and the reads that must
see them) to the primary.

`ReadRouter.acquire()` has a pool's interface. It hands out a replica's connection in turn; a replica
that cannot give one is skipped for RETRY_AFTER_S, and with none left the primary serves. Read-your-
writes: after a viewer's write, the primary's WAL position is recorded (`WriteMarks`: in Redis, so
every API process sees it, and in this process). That viewer's reads then take a replica only once it
has replayed that position, waiting at most CATCH_UP_WAIT_S, else the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import redis.asyncio as aioredis
from redis import RedisError

from app.db.connections import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

# The user whose request this is (set per GraphQL request): their own writes must be visible to them.
current_viewer: ContextVar[int | None] = ContextVar("movierec_viewer", default=None)

RETRY_AFTER_S = 5.0
CATCH_UP_WAIT_S = 0.25
CATCH_UP_POLL_S = 0.02
# A viewer's write matters to routing for this long; replicas far behind that are not read from anyway.
WRITE_MARK_TTL_S = 60

# Marks this process keeps for itself (the newest first to stay): a bound whatever the number of writers.
MAX_LOCAL_MARKS = 10_000

WRITTEN_LSN = "SELECT pg_current_wal_lsn()"
REPLAYED = "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn"
REPLICA_STATE = """
SELECT pg_is_in_recovery() AS replica, pg_last_wal_replay_lsn() AS replayed,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS lag_s
"""


class WriteMarks:
    """The WAL position each viewer's latest write reached: in Redis (all processes), and in this process."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis = aioredis.Redis.from_url(redis_url) if redis_url else None
        self._local: dict[int, tuple[int, float]] = {}

    async def record(self, user_id: int, lsn: int) -> None:
        """Remember a committed write of `user_id` at `lsn`."""
        self._local.pop(user_id, None)  # re-inserted last: the dict stays ordered oldest write first
        self._local[user_id] = (lsn, time.monotonic())
        while len(self._local) > MAX_LOCAL_MARKS:  # the oldest marks go; Redis still holds them for a while
            del self._local[next(iter(self._local))]
        if self._redis is not None:
            try:
                await self._redis.set(f"movierec:written:{user_id}", lsn, ex=WRITE_MARK_TTL_S)
            except (RedisError, OSError) as error:
                log.warning("could not record a write position in Redis (%s): this process still knows it", error)

    async def last(self, user_id: int) -> int | None:
        """The position this viewer's reads must see; -1 when unknown (Redis down): read from the primary."""
        local = self._local.get(user_id)
        if local is not None and time.monotonic() - local[1] > WRITE_MARK_TTL_S:
            del self._local[user_id]
            local = None
        if self._redis is None:
            return local[0] if local else None
        try:
            shared = await self._redis.get(f"movierec:written:{user_id}")
        except (RedisError, OSError):
            return -1
        known = [lsn for lsn in (local[0] if local else None, int(shared) if shared else None) if lsn is not None]
        return max(known) if known else None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


@dataclass
class Replica:
    """One replica's pool and when to try it again after it failed."""

    name: str
    pool: asyncpg.Pool
    down_until: float = 0.0
    served: int = 0


def replica_name(url: str) -> str:
    """A replica's URL without credentials, for logs and status."""
    parsed = urlsplit(url)
    host = parsed.hostname or dict(parse_qsl(parsed.query)).get("host", "local")
    return f"{host}:{parsed.port or 5432}{parsed.path}"


class ReadRouter:
    """Hands out connections for reads: a replica that has what the viewer wrote, else the primary."""

    def __init__(self, primary: asyncpg.Pool, replicas: Sequence[Replica], marks: WriteMarks) -> None:
        self.primary, self.replicas, self.marks = primary, list(replicas), marks
        self._turn = itertools.cycle(range(len(self.replicas))) if self.replicas else None
        self.primary_reads = 0

    def _in_turn(self) -> list[Replica]:
        if self._turn is None:
            return []
        start = next(self._turn)
        now = time.monotonic()
        ordered = self.replicas[start:] + self.replicas[:start]
        return [replica for replica in ordered if replica.down_until <= now]

    async def _caught_up(self, conn: asyncpg.Connection, lsn: int, deadline: float) -> bool:
        while True:
            if await conn.fetchval(REPLAYED, lsn):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(CATCH_UP_POLL_S)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for reads (a pool's `acquire`, used with `async with`)."""
        viewer = current_viewer.get()
        needed = await self.marks.last(viewer) if viewer is not None and self.replicas else None
        deadline = time.monotonic() + CATCH_UP_WAIT_S  # for every replica together, not each
        for replica in [] if needed == -1 else self._in_turn():
            try:
                conn = await replica.pool.acquire()
            except DATABASE_UNAVAILABLE as error:
                self._mark_down(replica, error)
                continue
            try:
                usable = needed is None or await self._caught_up(conn, needed, deadline)
            except DATABASE_UNAVAILABLE as error:
                await replica.pool.release(conn)
                self._mark_down(replica, error)
                continue
            if not usable:
                await replica.pool.release(conn)
                continue
            replica.served += 1
            try:
                yield conn
            except DATABASE_UNAVAILABLE as error:
                self._mark_down(replica, error)  # the next reads go elsewhere
                raise
            finally:
                await replica.pool.release(conn)
            return
        self.primary_reads += 1
        async with self.primary.acquire() as conn:
            yield conn

    def _mark_down(self, replica: Replica, error: BaseException) -> None:
        if replica.down_until <= time.monotonic():
            log.warning("replica %s skipped for %.0f s: %s", replica.name, RETRY_AFTER_S, error or type(error).__name__)
        replica.down_until = time.monotonic() + RETRY_AFTER_S

    async def record_write(self, conn: asyncpg.Connection, user_id: int) -> None:
        """After a viewer's committed write on `conn` (the primary): their next reads must see it."""
        if self.replicas:
            await self.marks.record(user_id, int(await conn.fetchval(WRITTEN_LSN)))

    async def lags(self) -> list[dict[str, Any]]:
        """Each replica: up or not, its replay lag in seconds and in bytes behind the primary."""
        if not self.replicas:
            return []
        async with self.primary.acquire() as conn:
            primary_lsn = int(await conn.fetchval(WRITTEN_LSN))
        out = []
        for replica in self.replicas:
            try:
                async with replica.pool.acquire(timeout=2) as conn:
                    state = await conn.fetchrow(REPLICA_STATE)
                behind = max(0, primary_lsn - int(state["replayed"])) if state["replayed"] is not None else None
                out.append(
                    {"name": replica.name, "up": True, "lag_s": float(state["lag_s"] or 0.0), "lag_bytes": behind}
                )
            except DATABASE_UNAVAILABLE as error:
                out.append({"name": replica.name, "up": False, "error": str(error) or type(error).__name__})
        return out

    async def close(self) -> None:
        """Close the replicas' pools and the write marks' Redis connection (not the primary's pool)."""
        for replica in self.replicas:
            await replica.pool.close()
        await self.marks.close()
