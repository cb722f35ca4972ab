"""One record per film: importers match across sources, `dedupe` merges what is already stored twice."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from app.catalogue.dedupe import dedupe, group_pairs, keeper
from app.catalogue.importers.demo import import_demo
from app.catalogue.importers.formats import import_file
from app.catalogue.importers.matching import enrich
from app.catalogue.importers.pipeline import import_movies
from app.catalogue.importers.records import MovieRecord

TWO_SOURCES = "SELECT array_agg(source ORDER BY source) FROM movie_sources WHERE movie_id = $1"


async def count_titled(conn: asyncpg.Connection, title: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM movies WHERE title = $1", title))


async def test_demo_and_wikipedia_give_one_inception(conn: asyncpg.Connection, shared_data: Path) -> None:
    await import_demo(conn)
    inception = await conn.fetchval("SELECT id FROM movies WHERE tmdb_id = 27205")
    demo_overview = await conn.fetchval("SELECT overview FROM movies WHERE id = $1", inception)
    rated = await conn.fetchval("SELECT count(*) FROM ratings WHERE movie_id = $1", inception)
    wikipedia = shared_data / "wikipedia-movies" / "movies-2010s.json"
    summary = await import_file(conn, "wikipedia", wikipedia)
    assert summary.merged >= 20  # the demo's 2010s films
    for title in ("Inception", "Interstellar", "Toy Story 3", "The Social Network"):
        assert await count_titled(conn, title) == 1, title
    merged = await conn.fetchrow("SELECT id, overview, tmdb_id FROM movies WHERE title = 'Inception'")
    assert merged["id"] == inception and merged["tmdb_id"] == 27205
    assert len(merged["overview"]) >= len(demo_overview)  # the richer overview
    assert await conn.fetchval(TWO_SOURCES, inception) == ["demo", "wikipedia"]
    assert await conn.fetchval("SELECT count(*) FROM ratings WHERE movie_id = $1", inception) == rated
    before = await conn.fetch("SELECT id, content_hash FROM movies ORDER BY id")
    again_wikipedia = await import_file(conn, "wikipedia", wikipedia)
    again_demo = await import_demo(conn)
    assert (again_wikipedia.inserted, again_wikipedia.updated) == (0, 0)
    assert (again_demo.inserted, again_demo.updated) == (0, 0)
    assert await conn.fetch("SELECT id, content_hash FROM movies ORDER BY id") == before
    assert (await dedupe(conn, dry_run=True)).groups == []


async def test_a_source_never_merges_two_of_its_own_films(conn: asyncpg.Connection) -> None:
    twins = [
        MovieRecord(title="Hamlet", year=1990, source="wiki", source_key=key, overview=text)
        for key, text in (("a", "Zeffirelli's Hamlet."), ("b", "Another Hamlet the same year."))
    ]
    summary = await import_movies(conn, [("f", t) for t in twins], "source_key")
    assert summary.inserted == 2 and await count_titled(conn, "Hamlet") == 2
    other = MovieRecord(title="HAMLET", year=1990, source="tmdb", source_key="1", tmdb_id=77, overview="x")
    summary = await import_movies(conn, [("g", other)], "tmdb_id")
    assert summary.inserted == 1  # ambiguous: which Hamlet? neither
    assert (await dedupe(conn, dry_run=True)).groups == []


async def test_a_year_apart_matches_when_a_name_agrees(conn: asyncpg.Connection) -> None:
    first = MovieRecord(title="The Matrix", year=1999, source="a", source_key="1", cast=("Keanu Reeves",))
    await import_movies(conn, [("f", first)], "source_key")
    near = MovieRecord(title="Matrix, The", year=2000, source="b", source_key="9", cast=("Keanu Reeves", "X"))
    stranger = MovieRecord(title="The Matrix", year=2000, source="c", source_key="5", cast=("Someone Else",))
    summary = await import_movies(conn, [("g", near), ("h", stranger)], "source_key")
    assert summary.merged == 1 and summary.inserted == 1
    assert await conn.fetchval("SELECT count(*) FROM movies") == 2


async def test_dedupe_merges_stored_copies_with_their_ratings(conn: asyncpg.Connection) -> None:
    await import_demo(conn)
    kept = await conn.fetchrow("SELECT id, title, year FROM movies WHERE tmdb_id = 27205")
    # A copy as an importer without matching stored it, rated by two users (one also rated the original).
    copy = await conn.fetchval(
        "INSERT INTO movies (source, source_key, title, year, overview, keywords, content_hash) "
        "VALUES ('wikipedia', 'Inception', 'Inception', 2010, 'Short.', '{dreams}', 'x') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO movie_sources (source, source_key, movie_id) VALUES ('wikipedia', 'Inception', $1)", copy
    )
    # Every demo user rated the original; user A rated the copy later, user C only the copy.
    await conn.execute(
        "INSERT INTO ratings (user_id, movie_id, rating, rated_at) SELECT id, $1, 3.0, now() FROM users "
        "ON CONFLICT DO NOTHING",
        kept["id"],
    )
    a = await conn.fetchval("SELECT min(id) FROM users")
    c = await conn.fetchval("INSERT INTO users (name) VALUES ('C') RETURNING id")
    await conn.execute(
        "INSERT INTO ratings (user_id, movie_id, rating, rated_at) "
        "VALUES ($1, $3, 1.0, now() + interval '1 day'), ($2, $3, 4.5, now())",
        a, c, copy,
    )  # fmt: skip
    users = [a, c]
    ratings_before = await conn.fetchval("SELECT count(*) FROM ratings")
    dry = await dedupe(conn, dry_run=True)
    assert dry.groups == [(kept["id"], [copy], "Inception (2010)")] and "would merge" in dry.lines()[0]
    assert await count_titled(conn, "Inception") == 2
    report = await dedupe(conn)
    assert report.lines()[0] == "merged 1 duplicate records into 1 films"
    assert await count_titled(conn, "Inception") == 1
    assert await conn.fetchval(TWO_SOURCES, kept["id"]) == ["demo", "wikipedia"]
    moved = dict(
        await conn.fetch(
            "SELECT user_id, rating::float8 FROM ratings WHERE movie_id = $1 AND user_id = ANY($2)", kept["id"], users
        )
    )
    assert moved[c] == 4.5 and moved[a] == 1.0  # C's moved; A's later rating stands
    assert await conn.fetchval("SELECT count(*) FROM ratings") == ratings_before - 1
    merged = await conn.fetchrow("SELECT keywords, overview FROM movies WHERE id = $1", kept["id"])
    assert merged["keywords"] and merged["overview"] != "Short."
    assert await conn.fetchval("SELECT count(*) FROM embedding_outbox WHERE movie_id = $1", kept["id"]) == 1
    assert (await dedupe(conn)).groups == []


def test_groups_keeper_and_enrichment() -> None:
    assert group_pairs([(1, 2), (3, 4), (2, 5)]) == [[1, 2, 5], [3, 4]]
    films = [{"id": 1, "ratings": 0, "overview": "long text"}, {"id": 2, "ratings": 3, "overview": ""}]
    assert keeper(films)["id"] == 2
    stored = MovieRecord(title="A", overview="short", director=None, genres=("Drama",))
    other = MovieRecord(title="a!", overview="a much longer overview", director="D", genres=("Comedy",), tmdb_id=5)
    merged = enrich(stored, other)
    assert (merged.title, merged.overview, merged.director, merged.genres, merged.tmdb_id) == (
        "A", "a much longer overview", "D", ("Drama",), 5,
    )  # fmt: skip
    assert enrich(merged, other) == merged  # idempotent
