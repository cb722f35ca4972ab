"""A database without pgvector (Debian's PostgreSQL 15) is a supported deployment: the same answers as
the pgvector path, from the API process's exact search; and the runtime fallback on a pgvector database."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import numpy as np
import pytest

from app.catalogue.importers.pipeline import import_movies
from app.catalogue.importers.records import MovieRecord
from app.db.connections import connect
from app.db.migrate import migrate
from app.embeddings.model import SentenceTransformerEmbedder
from app.embeddings.pipeline import embed_movies
from app.search.memory import InMemoryVectors
from tests.api_support import Api
from tests.fakes import FakeEmbedder
from tests.seeding import seed_movies
from tests.test_api_recommendations import EXPLAIN, RECOMMEND, SIMILAR, tmdb

pytestmark = pytest.mark.model

SEARCH = """query($q: String!, $mode: SearchMode!, $filter: MovieFilter) {
  searchMovies(query: $q, mode: $mode, limit: 8, filter: $filter) { usedMeaning items { similarity movie { id } } } }"""
FOR_MOVIES = """query($pos: [ID!]!, $neg: [ID!], $s: ExampleStrategy!) {
  recommendationsForMovies(positive: $pos, negative: $neg, strategy: $s, limit: 8) { items { score movie { id } } } }"""
STATS = "{ stats { vectorSearch vectorSearchFix dimension index { valid } } }"


def operations(api: Api) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every k-NN-backed read, with and without filters: (query, variables, auth)."""
    ids = tmdb(api)
    inception, toy_story = str(ids[27205]), str(ids[862])
    similar = {"limit": 10, "diversity": 0.0, "filter": None, "excludeSeen": False}
    return [
        (SIMILAR, {"id": inception, **similar}, {}),
        (SIMILAR, {"id": toy_story, **similar, "diversity": 0.5}, {}),
        (SIMILAR, {"id": inception, **similar, "filter": {"genres": ["drama"], "yearFrom": 1990}}, {}),
        (SIMILAR, {"id": inception, **similar, "excludeSeen": True}, {"user": 1}),
        (RECOMMEND, {"limit": 10, "diversity": 0.0, "filter": None, "userId": None}, {"user": 2}),
        (RECOMMEND, {"limit": 10, "diversity": 0.3, "filter": {"genres": ["comedy"]}, "userId": None}, {"user": 3}),
        (FOR_MOVIES, {"pos": [inception, str(ids[550])], "neg": [toy_story], "s": "AVERAGE_VECTOR"}, {}),
        (FOR_MOVIES, {"pos": [inception, str(ids[550])], "neg": [], "s": "BEST_SCORE"}, {}),
        (FOR_MOVIES, {"pos": [inception, str(ids[550])], "neg": [], "s": "SUM_SCORES"}, {}),
        (EXPLAIN, {"movieId": str(ids[77])}, {"user": 5}),
        (SEARCH, {"q": "a thief who plants an idea inside dreams", "mode": "SEMANTIC", "filter": None}, {}),
        (SEARCH, {"q": "toys that come alive", "mode": "HYBRID", "filter": {"yearTo": 2005}}, {}),
        (SEARCH, {"q": "Christopher Nolan", "mode": "HYBRID", "filter": None}, {}),
    ]


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items() if k != "distance"}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_a_database_without_pgvector_answers_as_the_pgvector_path_does(api: Api, plain_api: Api) -> None:
    assert plain_api.sql("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")[0][0] == 0
    assert (
        plain_api.sql(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'movies'::regclass AND attname = 'embedding'"
        )[0][0]
        == "vector"
    )
    for query, variables, auth in operations(api):
        expected, answered = api.data(query, variables, **auth), plain_api.data(query, variables, **auth)
        assert _rounded(answered) == _rounded(expected), (query, variables)
    stats = plain_api.data(STATS)["stats"]
    assert stats["vectorSearch"] == "in-process exact search (this database has no pgvector)"
    assert stats["dimension"] == 384 and stats["index"] is None
    assert plain_api.client.get("/readyz").json()["vectorSearch"] == stats["vectorSearch"]


def test_new_vectors_are_searched_without_a_restart(plain_api: Api, model: SentenceTransformerEmbedder) -> None:
    ids = tmdb(plain_api)
    created = plain_api.data(
        'mutation { upsertMovie(input: { title: "Dream Heist", year: 2024, overview: "A crew of thieves enters a '
        "billionaire's dreams to plant an idea in his mind, layer inside layer.\" }) { id } }",
        user=1,
        admin=True,
    )["upsertMovie"]["id"]

    async def embed() -> None:
        conn = await connect(plain_api.database_url)
        assert (await embed_movies(conn, model)).embedded == 1
        await conn.close()

    asyncio.run(embed())
    time.sleep(2.5)  # the API's watch looks for changed vectors every second
    variables = {"id": str(ids[27205]), "limit": 3, "diversity": 0.0, "filter": None, "excludeSeen": False}
    nearest = [i["movie"]["id"] for i in plain_api.data(SIMILAR, variables)["similarMovies"]["items"]]
    assert created in nearest


def test_migrate_and_every_command_work_without_pgvector(plain_server: str) -> None:
    from app.db.connections import with_database
    from tests.databases import create_database, drop_database, new_name
    from tests.test_cli import movierec

    name = new_name("plaincli")
    asyncio.run(create_database(plain_server, name))
    url = with_database(plain_server, name)
    try:
        setup = movierec(url, "setup")
        assert setup.returncode == 0, setup.stderr
        assert "no pgvector in this database" in setup.stdout and "coverage: 100.0%" in setup.stdout
        doctor = movierec(url, "doctor")
        assert "OK   pgvector extension: not installed: portable schema, in-process exact search" in doctor.stdout
        assert "OK   vector index: none without pgvector" in doctor.stdout and doctor.returncode == 0, doctor.stdout
        evaluated = movierec(url, "evaluate-search")
        assert evaluated.returncode == 0, evaluated.stderr
    finally:
        asyncio.run(drop_database(plain_server, name))


def test_a_dropped_index_keeps_requests_answered_and_is_reported(api: Api) -> None:
    expected = [api.data(q, v, **a) for q, v, a in operations(api)]
    api.sql("DROP INDEX movies_embedding_idx")
    time.sleep(6)  # the API's watch looks at the index every 5 s
    answered = [api.data(q, v, **a) for q, v, a in operations(api)]
    assert _rounded(answered) == _rounded(expected)
    stats = api.data(STATS)["stats"]
    assert stats["vectorSearch"] == "in-process exact search (fallback: the vector index is missing)"
    assert "movierec index" in stats["vectorSearchFix"]
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["degraded"]["cause"] == "the vector index is missing"
    checks = api.data("{ health { name ok detail } }", user=1, admin=True)["health"]
    assert {"name": "k-NN path", "ok": False, "detail": stats["vectorSearch"]} in checks
    # The fallback answers pgvector's failures, never the caller's: a bad argument is still one.
    bad = {"id": "1", "limit": 5, "diversity": 2.0, "filter": None, "excludeSeen": False}
    assert api.error_code(SIMILAR, bad) == "BAD_USER_INPUT"
    assert api.error_code(SIMILAR, {**bad, "id": "999999", "diversity": 0.0}) == "NOT_FOUND"


def test_a_failing_vector_operator_is_answered_in_process(api: Api) -> None:
    ids = tmdb(api)
    variables = {"id": str(ids[27205]), "limit": 10, "diversity": 0.0, "filter": None, "excludeSeen": False}
    expected = api.data(SIMILAR, variables)
    # pgvector's cosine distance failing inside the server (as a broken build or upgrade would): every
    # query that computes it gets an internal error, and the in-process search answers instead.
    api.sql("ALTER EXTENSION vector DROP FUNCTION cosine_distance(vector, vector)")
    api.sql(
        "CREATE OR REPLACE FUNCTION cosine_distance(vector, vector) RETURNS float8 LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'simulated pgvector failure' USING ERRCODE = 'XX000'; END $$"
    )
    answered = api.data(SIMILAR, variables)
    assert _rounded(answered) == _rounded(expected)
    assert api.data(STATS)["stats"]["vectorSearch"].startswith("in-process exact search (fallback: ")


async def _portable_then_moved(url: str, model: SentenceTransformerEmbedder) -> tuple[int, int]:
    from app.catalogue.importers.demo import import_demo

    conn = await connect(url, vector=False)
    await migrate(conn, 384, pgvector=False)  # as on a server without pgvector
    await import_demo(conn)
    embedded = (await embed_movies(conn, model)).embedded
    await conn.close()
    return embedded, 0


def test_a_database_that_gains_pgvector_moves_over_with_migrate(
    database_url: str, model: SentenceTransformerEmbedder
) -> None:
    from tests.test_cli import movierec

    embedded, _ = asyncio.run(_portable_then_moved(database_url, model))
    assert embedded == 206
    moved = movierec(database_url, "migrate")
    assert moved.returncode == 0, moved.stderr
    assert "moved to pgvector: 206 film vectors kept" in moved.stdout and "built hnsw index" in moved.stdout
    stats = movierec(database_url, "stats")
    assert "coverage: 100.0%" in stats.stdout and "k-NN reads: pgvector" in stats.stdout
    assert "index: hnsw vector_cosine_ops" in stats.stdout


async def test_the_in_process_copy_follows_writes_as_a_full_load_would(
    conn: asyncpg.Connection, fake_embedder: FakeEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_movies(conn, 30)
    await embed_movies(conn, fake_embedder)
    memory = InMemoryVectors(pgvector=True)
    await memory.current(conn)
    # New films and a changed one, embedded: the next look re-reads only what was written since.
    await seed_movies(conn, 5, prefix="More")
    edited = MovieRecord(title="Film 0", year=2000, overview="A different story now.", source="t", source_key="Film0")
    await import_movies(conn, [("seed", edited)], "source_key")
    await embed_movies(conn, fake_embedder)
    with caplog.at_level("INFO", logger="app.search.memory"):
        await memory.refresh(conn)
    assert "in-process vectors: 35 films" in caplog.text and " updated in " in caplog.text  # not reloaded
    full = InMemoryVectors(pgvector=True)
    await full.current(conn)
    for mine, theirs in ((memory.films, full.films), (memory.passages, full.passages)):
        order, expected = np.lexsort((mine.ids,)), np.lexsort((theirs.ids,))
        assert mine.ids[order].tolist() == theirs.ids[expected].tolist()
    for movie in full.films.ids:
        assert np.allclose(memory.vector_of(int(movie)), full.vector_of(int(movie)))  # type: ignore[arg-type]
    assert len(memory.films.ids) == 35
