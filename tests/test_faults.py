"""Faults end cleanly: PostgreSQL refusing connections or too slow answers UNAVAILABLE, then recovers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from app.db.connections import DATABASE_UNAVAILABLE
from app.embeddings.model import SentenceTransformerEmbedder
from tests.api_support import Api, running_api

pytestmark = pytest.mark.model
STATS = "{ stats { totalMovies } }"
SIMILAR = '{ similarMovies(movieId: "1", limit: 3) { items { movie { title } } } }'


@pytest.fixture
def quick_api(demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path) -> Iterator[Api]:
    """The API with short statement and acquire timeouts."""
    yield from running_api(
        demo_database_url, model, tmp_path / "movierec", statement_timeout_s=1.0, pool_acquire_timeout_s=1.0
    )


def _admin(server_uri: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(server_uri)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def test_a_database_that_refuses_connections_is_unavailable_then_recovers(quick_api: Api, server_uri: str) -> None:
    name = quick_api.database_url.split("?")[0].rsplit("/", 1)[1]
    assert quick_api.data(STATS)["stats"]["totalMovies"] == 206
    _admin(server_uri, f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    _admin(server_uri, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        for query in (STATS, SIMILAR):
            started = time.perf_counter()
            body = quick_api.gql(query)
            assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE", body
            assert time.perf_counter() - started < 5
    finally:
        _admin(server_uri, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    deadline = time.time() + 20
    while "errors" in quick_api.gql(STATS) and time.time() < deadline:
        time.sleep(0.2)
    assert quick_api.data(STATS)["stats"]["totalMovies"] == 206  # recovered without a restart


def test_a_stuck_database_fails_the_request_within_its_budget_and_the_pool_recovers(quick_api: Api) -> None:
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        async def run() -> None:
            conn = await asyncpg.connect(quick_api.database_url)
            async with conn.transaction():
                await conn.execute("LOCK TABLE movies IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.to_thread(release.wait)
            await conn.close()

        asyncio.run(run())

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.perf_counter()
        body = quick_api.gql(SIMILAR)
        elapsed = time.perf_counter() - started
        assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE", body
        assert elapsed < 3, elapsed  # the 1 s statement timeout, not the lock
    finally:
        release.set()
        holder.join()
    assert len(quick_api.data(SIMILAR)["similarMovies"]["items"]) == 3


def test_a_connection_ended_by_the_server_fails_as_unavailable_however_late_the_close_arrives(server_uri: str) -> None:
    async def failures() -> set[type[BaseException]]:
        admin = await asyncpg.connect(server_uri)
        kinds: set[type[BaseException]] = set()
        try:
            # The next statement meets the ended backend at different moments: before its FATAL message
            # is read, between that message and the close (asyncpg's "cannot switch to state"), after both.
            for attempt in range(300):
                conn = await asyncpg.connect(server_uri)
                await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
                await asyncio.sleep((attempt % 30) * 0.0002)
                try:
                    await conn.fetch("SELECT 1")
                except Exception as error:  # every kind is collected and judged below
                    kinds.add(type(error))
                finally:
                    conn.terminate()
        finally:
            await admin.close()
        return kinds

    kinds = asyncio.run(failures())
    assert kinds, "a statement on an ended connection never failed"
    assert all(issubclass(kind, DATABASE_UNAVAILABLE) for kind in kinds), kinds
