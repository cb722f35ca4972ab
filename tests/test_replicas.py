"""Read replicas for real: a streaming replica of the tests' PostgreSQL (pg_basebackup -R), the API's reads
on it, a viewer's rating visible at once despite injected replay lag, and a stopped replica that fails
no request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from app.db.connections import with_database
from app.db.replica_server import Replica, start_replica
from app.embeddings.model import SentenceTransformerEmbedder
from tests.api_support import Api, running_api

pytestmark = pytest.mark.model

SIMILAR = '{ similarMovies(movieId: "1", limit: 5) { items { movie { id } } } }'
SEARCH = '{ searchMovies(query: "toys that come alive", limit: 5) { items { movie { id } } } }'
VIEWER = "{ viewer { ratings { rating movie { id } } } }"
STATS = "{ stats { totalMovies replicas { name up lagSeconds lagBytes } } }"


@pytest.fixture
def replica(server_uri: str) -> Iterator[Replica]:
    copy = start_replica(server_uri)
    yield copy
    copy.remove()


@pytest.fixture
def replicated_api(
    demo_database_url: str, replica: Replica, model: SentenceTransformerEmbedder, tmp_path: Path
) -> Iterator[Api]:
    database = _database(demo_database_url)
    replica_url = with_database(replica.uri, database)
    _wait_until(lambda: _replica_has(replica_url))
    yield from running_api(demo_database_url, model, tmp_path / "movierec", database_replica_urls=replica_url)


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _wait_until(ready: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.1)


def _replica_has(url: str) -> bool:
    import asyncio

    async def check() -> bool:
        try:
            conn = await asyncpg.connect(url)
        except (OSError, asyncpg.PostgresError):
            return False
        try:
            return bool(await conn.fetchval("SELECT count(*) FROM movies") == 206)
        finally:
            await conn.close()

    return asyncio.run(check())


def _replica_sql(api: Api, replica: Replica, statement: str, *args: Any) -> list[asyncpg.Record]:
    import asyncio

    database = _database(api.database_url)

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(with_database(replica.uri, database))
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def _api_connections(api: Api, replica: Replica) -> int:
    statement = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'"
    return int(_replica_sql(api, replica, statement, _database(api.database_url))[0][0]) - 1  # less this one


def test_reads_go_to_the_replica_and_stats_show_its_lag(replicated_api: Api, replica: Replica) -> None:
    api = replicated_api
    api.data(SIMILAR)
    api.queries.clear()  # the statements the primary's pool runs from here on
    for _ in range(10):
        api.data(SIMILAR)
        api.data(SEARCH)
    on_primary = [q for q in api.queries if "<=>" in q or "search_document" in q or "FROM movies" in q]
    assert on_primary == []  # k-NN, words and the movies themselves were all read on the replica
    assert _api_connections(api, replica) >= 1
    stats = api.data(STATS)["stats"]
    assert stats["totalMovies"] == 206
    [state] = stats["replicas"]
    assert state["up"] and state["lagSeconds"] is not None and state["lagBytes"] is not None
    ready = api.client.get("/readyz").json()
    assert ready["ready"] and ready["replicas"][0]["up"]


def test_a_viewer_sees_their_rating_at_once_despite_replay_lag(replicated_api: Api, replica: Replica) -> None:
    api = replicated_api
    movie = api.sql("SELECT id FROM movies WHERE title = 'Inception'")[0]["id"]
    replica.delay_apply("4s")
    api.data('mutation { rateMovie(movieId: "%d", rating: 4.5) { rating } }' % movie, user=3)
    rated = {r["movie"]["id"] for r in api.data(VIEWER, user=3)["viewer"]["ratings"]}
    assert str(movie) in rated  # read from the primary: the replica has not replayed it
    replayed = _replica_sql(api, replica, "SELECT count(*) FROM ratings WHERE user_id = 3 AND movie_id = $1", movie)
    assert replayed[0][0] == 0, "the injected lag did not hold the rating back"
    recommended = api.data("{ recommendations(limit: 10) { items { movie { id } } } }", user=3)
    assert str(movie) not in {i["movie"]["id"] for i in recommended["recommendations"]["items"]}  # rated: left out
    replica.delay_apply("0")


def test_a_stopped_replica_fails_no_request(replicated_api: Api, replica: Replica) -> None:
    api = replicated_api
    api.data(SIMILAR)
    replica.stop()
    for _ in range(5):
        api.data(SIMILAR)
        api.data(SEARCH)
        api.data(VIEWER, user=2)
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["replicas"][0]["up"] is False
    assert api.data(STATS)["stats"]["replicas"][0]["up"] is False


async def test_a_process_keeps_a_bounded_number_of_write_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.db import replicas

    monkeypatch.setattr(replicas, "MAX_LOCAL_MARKS", 3)
    marks = replicas.WriteMarks(None)
    for user in range(1, 6):
        await marks.record(user, 100 + user)
    await marks.record(3, 200)  # a new write moves its mark to the newest
    await marks.record(6, 106)
    kept = {user: await marks.last(user) for user in range(1, 7)}
    assert kept == {1: None, 2: None, 3: 200, 4: None, 5: 105, 6: 106}
