"""Importers against a real PostgreSQL: counts, idempotency, bad rows and malformed files."""

from __future__ import annotations

import gzip
from pathlib import Path

import asyncpg
import pytest

from app.catalogue.importers.demo import import_demo
from app.catalogue.importers.formats import import_file
from app.catalogue.importers.jsonstream import MalformedFile, iter_json_objects
from app.catalogue.importers.movielens import import_movielens, normalise_title, title_variants
from app.catalogue.importers.pipeline import import_movies
from app.catalogue.importers.records import MovieRecord
from app.catalogue.importers.wikipedia import read_wikipedia
from tests.conftest import FIXTURES
from tests.movielens_fixtures import write_movielens


async def test_wikipedia_import_counts_skips_and_is_idempotent(conn: asyncpg.Connection) -> None:
    summary = await import_file(conn, "wikipedia", FIXTURES / "wikipedia_sample.json")
    assert (summary.inserted, summary.updated, summary.unchanged, summary.skipped) == (4, 0, 0, 3)
    assert summary.reasons == {
        "title is missing": 1,
        "year 'nineteen' is not a number": 1,
        "duplicate of an earlier row": 1,
    }
    # Each skipped row is reported with its file and line.
    assert "wikipedia_sample.json:13 (item 4): title is missing" in summary.examples
    assert (
        "wikipedia_sample.json:15 (item 6) (first at wikipedia_sample.json:11 (item 2)): duplicate of an earlier row"
        in (summary.examples)
    )
    robot = await conn.fetchrow("SELECT * FROM movies WHERE title = 'Robot Summer' AND year = 2012")
    assert robot["cast_members"] == ["C. Person"]  # the stray ")" is dropped
    assert robot["genres"] == ["Science Fiction", "Comedy"]
    assert robot["source"] == "wikipedia" and robot["content_hash"]
    again = await import_file(conn, "wikipedia", FIXTURES / "wikipedia_sample.json")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert await conn.fetchval("SELECT count(*) FROM movies") == 4


async def test_wikipedia_reads_gzip(conn: asyncpg.Connection, tmp_path: Path) -> None:
    packed = tmp_path / "movies.json.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "wikipedia_sample.json").read_bytes()))
    summary = await import_file(conn, "wikipedia", packed)
    assert summary.inserted == 4


async def test_changed_row_is_updated_and_its_hash_changes(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await import_file(conn, "wikipedia", FIXTURES / "wikipedia_sample.json")
    before = await conn.fetchval("SELECT content_hash FROM movies WHERE title = 'The Lighthouse Keeper'")
    edited = tmp_path / "edited.json"
    text = (FIXTURES / "wikipedia_sample.json").read_text()
    edited.write_text(text.replace("winter storm", "summer heatwave"))
    summary = await import_file(conn, "wikipedia", edited)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 1, 3)
    after = await conn.fetchval("SELECT content_hash FROM movies WHERE title = 'The Lighthouse Keeper'")
    assert after != before


async def test_malformed_file_stops_with_file_and_line_and_keeps_what_was_stored(conn: asyncpg.Connection) -> None:
    await import_file(conn, "wikipedia", FIXTURES / "wikipedia_sample.json")
    stored = await conn.fetch("SELECT id, content_hash FROM movies ORDER BY id")
    with pytest.raises(MalformedFile, match=r"wikipedia_malformed\.json:4: malformed JSON"):
        await import_file(conn, "wikipedia", FIXTURES / "wikipedia_malformed.json")
    # The batch holding the good row before the error was never written: no half-written import.
    assert await conn.fetch("SELECT id, content_hash FROM movies ORDER BY id") == stored


async def test_batches_read_ahead_are_written_in_order_up_to_a_malformed_row(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The next batch is parsed in a thread while one is written: every batch before the bad one is kept."""
    import json

    import app.catalogue.importers.pipeline as pipeline

    monkeypatch.setattr(pipeline, "BATCH_SIZE", 2)
    films = [{"title": f"Film {n}", "year": 2000 + n, "href": f"Film_{n}", "extract": f"Film {n} is a film."}
             for n in range(5)]  # fmt: skip
    path = tmp_path / "five_then_broken.json"
    path.write_text("[\n" + ",\n".join(json.dumps(f) for f in films) + ',\n{"title": \n')
    with pytest.raises(MalformedFile, match=r"five_then_broken\.json:8"):
        await import_file(conn, "wikipedia", path)
    # Two full batches of two were written; the fifth film's batch never completed.
    assert await conn.fetchval("SELECT array_agg(title ORDER BY title) FROM movies") == [f"Film {n}" for n in range(4)]
    summary = await import_file(conn, "wikipedia", FIXTURES / "wikipedia_sample.json")  # the connection is fine
    assert summary.inserted > 0


def test_json_stream_counts_lines_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import app.catalogue.importers.jsonstream as jsonstream

    monkeypatch.setattr(jsonstream, "_CHUNK", 7)
    path = FIXTURES / "wikipedia_sample.json"
    with path.open() as stream:
        lines = [line for line, _ in iter_json_objects(stream, path.name)]
    assert lines == [2, 11, 12, 13, 14, 15, 16]
    jsonl = tmp_path / "movies.jsonl"
    jsonl.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3')
    with jsonl.open() as stream, pytest.raises(MalformedFile, match=r"movies.jsonl:4"):
        assert [v["a"] for _, v in iter_json_objects(stream, jsonl.name)] == [1, 2]


async def test_tmdb_import_joins_credits_and_reports_bad_rows(conn: asyncpg.Connection) -> None:
    summary = await import_file(conn, "tmdb", FIXTURES / "tmdb" / "tmdb_5000_movies.csv")
    assert (summary.inserted, summary.skipped) == (3, 3)
    assert summary.reasons == {
        "genres is not valid JSON (Expecting value)": 1,
        "id 'abc' is not an integer": 1,
        "title is missing": 1,
    }
    # Line numbers are where each record starts, even after a quoted field spanning two lines.
    assert "tmdb_5000_movies.csv:6: id 'abc' is not an integer" in summary.examples
    orbit = await conn.fetchrow("SELECT * FROM movies WHERE tmdb_id = 9002")
    assert orbit["director"] == "Ivy Chen"
    assert orbit["cast_members"] == ["Tom Reyes", "Lena Park"]  # billing order
    assert orbit["keywords"] == ["space station"]
    assert orbit["year"] == 2016 and orbit["vote_count"] == 1900 and orbit["vote_average"] == pytest.approx(7.4)
    harbour = await conn.fetchrow("SELECT * FROM movies WHERE tmdb_id = 9001")
    assert "treacherous strait\nwhile hiding" in harbour["overview"]
    quiet = await conn.fetchrow("SELECT * FROM movies WHERE tmdb_id = 9006")
    assert quiet["overview"] == "" and quiet["vote_average"] is None
    again = await import_file(conn, "tmdb", FIXTURES / "tmdb" / "tmdb_5000_movies.csv")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


async def test_demo_catalogue(conn: asyncpg.Connection) -> None:
    summary = await import_demo(conn)
    assert summary.inserted >= 150 and summary.skipped == 0
    titles = dict(await conn.fetch("SELECT tmdb_id, title FROM movies WHERE tmdb_id = ANY($1)", [27205, 550, 13]))
    assert titles == {27205: "Inception", 550: "Fight Club", 13: "Forrest Gump"}
    missing = await conn.fetchval(
        "SELECT count(*) FROM movies WHERE overview = '' OR director IS NULL OR cardinality(cast_members) = 0 "
        "OR cardinality(genres) = 0 OR year IS NULL"
    )
    assert missing == 0
    assert await conn.fetchval("SELECT count(*) FROM users WHERE source = 'demo'") >= 3
    assert await conn.fetchval("SELECT count(*) FROM ratings") >= 20
    again = await import_demo(conn)
    assert (again.inserted, again.updated) == (0, 0)


def test_movielens_title_normalisation() -> None:
    assert title_variants("Matrix, The (1999)") == (["matrix"], 1999)
    assert title_variants("Seven (a.k.a. Se7en) (1995)") == (["seven", "se7en"], 1995)
    assert title_variants("Star Wars: Episode IV - A New Hope (1977)")[0] == [
        "star wars episode iv a new hope",
        "star wars",
    ]
    assert normalise_title("Amélie") == normalise_title("Amelie")
    assert normalise_title("The Matrix") == normalise_title("Matrix, The")


async def test_movielens_matches_by_title_and_year_and_never_invents(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await import_demo(conn)
    movies_before = await conn.fetchval("SELECT count(*) FROM movies")
    ratings_before = await conn.fetchval("SELECT count(*) FROM ratings")
    summary = await import_movielens(conn, write_movielens(tmp_path, "movielens"))
    assert summary.extra["movies matched"] == "5 of 6 (83.3%)"
    assert summary.extra["ratings matched"] == "6 of 9 (66.7%)"
    assert summary.reasons == {
        "movie not in the catalogue": 1,
        "rating '7.0' is not 0.5-5.0 in steps of 0.5": 1,
        "rating 'abc' is not a number": 1,
    }
    assert summary.inserted == 6
    assert await conn.fetchval("SELECT count(*) FROM movies") == movies_before
    assert await conn.fetchval("SELECT count(*) FROM ratings") == ratings_before + 6
    rows = await conn.fetch(
        "SELECT u.source_key, m.tmdb_id, r.rating FROM ratings r JOIN users u ON u.id = r.user_id "
        "JOIN movies m ON m.id = r.movie_id WHERE u.source = 'movielens' ORDER BY 1, 2"
    )
    assert [(r["source_key"], r["tmdb_id"], float(r["rating"])) for r in rows] == [
        ("1", 278, 5.0),
        ("1", 27205, 4.5),
        ("2", 550, 3.5),
        ("2", 603, 4.0),
        ("2", 807, 2.5),
        ("3", 278, 1.0),
    ]
    again = await import_movielens(conn, tmp_path / "movielens")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)


async def test_movielens_prefers_links(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await import_demo(conn)
    # Another record of the film under its IMDb id alone (a different title, so the importer keeps it apart).
    fight_club = MovieRecord(title="Fight Club: Cut", year=1999, source="test", source_key="fc", imdb_id="tt0137523")
    await import_movies(conn, [("test", fight_club)], "source_key")
    summary = await import_movielens(conn, write_movielens(tmp_path, "movielens_links"))
    assert summary.extra["movies matched"] == "2 of 2 (100.0%)"
    rated = await conn.fetch(
        "SELECT m.tmdb_id, m.imdb_id FROM ratings r JOIN movies m ON m.id = r.movie_id "
        "JOIN users u ON u.id = r.user_id WHERE u.source_key = '7' ORDER BY r.rating DESC"
    )
    assert [(r["tmdb_id"], r["imdb_id"]) for r in rated] == [(27205, None), (None, "tt0137523")]


@pytest.mark.data
async def test_full_wikipedia_and_movielens(conn: asyncpg.Connection, shared_data: Path) -> None:
    wiki = shared_data / "wikipedia-movies" / "movies.json.gz"
    summary = await import_movies(conn, read_wikipedia(wiki), "source_key")
    assert summary.total == 36_273
    # 19 entries repeat another entry's article, title and year exactly: listed twice, one film.
    assert summary.skipped == summary.reasons["duplicate of an earlier row"] == 19
    assert summary.inserted == 36_254 == await conn.fetchval("SELECT count(*) FROM movies")
    ratings = await import_movielens(conn, shared_data / "movielens-small")
    matched_movies = int(ratings.extra["movies matched"].split()[0])
    matched, _, seen = ratings.extra["ratings matched"].split()[:3]
    assert matched_movies >= 6000
    assert int(matched) / int(seen) >= 0.85
