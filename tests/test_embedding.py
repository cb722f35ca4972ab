"""The embedding pipeline: incremental, resumable, binary writes, audit rows, and real meaning."""

from __future__ import annotations

import asyncio

import asyncpg
import numpy as np
import pytest

from app.catalogue.importers.demo import import_demo
from app.catalogue.importers.pipeline import import_movies
from app.catalogue.importers.records import MovieRecord
from app.embeddings import pipeline
from app.embeddings.model import SentenceTransformerEmbedder
from app.embeddings.pipeline import EmbeddingBusy, GenerationMismatch, embed_movies
from app.embeddings.refresh import refresh_embeddings
from app.embeddings.text import RECIPE_VERSION, MovieContent, content_hash, embedding_text
from app.settings import Settings
from app.vectors import as_array
from tests.fakes import FakeEmbedder
from tests.seeding import seed_movies


def test_recipe_puts_short_fields_first_and_clips_long_overviews() -> None:
    movie = MovieContent(
        title="Inception",
        year=2010,
        overview="word " * 400,
        genres=["Action"],
        director="Christopher Nolan",
        cast=[f"Actor {i}" for i in range(20)],
        keywords=["dream"],
    )
    text = embedding_text(movie)
    assert text.startswith("Inception (2010). Genres: Action. Directed by Christopher Nolan. Starring Actor 0,")
    assert "Actor 5" in text and "Actor 6" not in text
    assert len(text.split()) < 200
    assert embedding_text(MovieContent(title="Solo")) == "Solo."
    assert content_hash(movie) != content_hash(MovieContent(title="Inception", year=2011))


async def test_incremental_runs_and_audit_rows(conn: asyncpg.Connection, fake_embedder: FakeEmbedder) -> None:
    await seed_movies(conn, 40, title_only=True)
    first = await embed_movies(conn, fake_embedder, batch_size=16)
    assert (first.embedded, first.skipped, first.failed, first.title_only) == (41, 0, 0, 1)
    second = await embed_movies(conn, fake_embedder, batch_size=16)
    assert (second.embedded, second.skipped) == (0, 41)
    # The vector stored is exactly what the embedder produced for the recipe's text.
    row = await conn.fetchrow("SELECT * FROM movies WHERE source_key = 'Film7'")
    expected = fake_embedder.vector(
        embedding_text(MovieContent(title="Film 7", year=2007, overview="Overview number 7.", genres=["Drama"]))
    )
    assert np.allclose(as_array(row["embedding"]), expected)
    assert row["embedding_model"] == "fake-embedder" and row["embedded_hash"] == row["content_hash"]
    runs = await conn.fetch("SELECT * FROM embedding_runs ORDER BY id")
    assert [(r["status"], r["embedded"], r["skipped"], r["title_only"]) for r in runs] == [
        ("succeeded", 41, 0, 1),
        ("succeeded", 0, 41, 0),
    ]
    assert all(r["finished_at"] >= r["started_at"] for r in runs)


async def test_a_run_that_rewrote_many_films_vacuums_their_tables(
    conn: asyncpg.Connection, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each write of a film leaves its old row version dead (and the full-text index's pending list
    # long) until a vacuum; a run that wrote VACUUM_AFTER films or more vacuums at its end. (Its
    # effect on the word search is measured in docs/benchmarks.md, not timed here.)
    await seed_movies(conn, 30)
    vacuumed = "SELECT count(last_vacuum) FROM pg_stat_user_tables WHERE relname IN ('movies', 'movie_passages')"
    await embed_movies(conn, fake_embedder, batch_size=8)  # below the threshold: autovacuum's business
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    assert await conn.fetchval(vacuumed) == 0
    monkeypatch.setattr(pipeline, "VACUUM_AFTER", 30)
    assert (await embed_movies(conn, fake_embedder, full=True, batch_size=8)).embedded == 30
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    assert await conn.fetchval(vacuumed) == 2
    # A vacuum that fails (here: a table that is not there) leaves the run succeeded.
    monkeypatch.setattr(pipeline, "VACUUM_WRITTEN", "VACUUM movies, {passages}_missing")
    run = await embed_movies(conn, fake_embedder, full=True, batch_size=8)
    assert (run.status, run.embedded) == ("succeeded", 30)


async def test_editing_one_overview_re_embeds_exactly_that_movie(
    conn: asyncpg.Connection, fake_embedder: FakeEmbedder
) -> None:
    await seed_movies(conn, 30, title_only=True)
    await embed_movies(conn, fake_embedder)
    edited = MovieRecord(
        title="Film 3", year=2003, overview="A brand new overview.", source="t", source_key="Film3", genres=("Drama",)
    )
    await import_movies(conn, [("edit", edited)], "source_key")
    before = await conn.fetchval("SELECT embedded_at FROM movies WHERE source_key = 'Film4'")
    result = await embed_movies(conn, fake_embedder)
    assert (result.embedded, result.skipped) == (1, 30)
    assert await conn.fetchval("SELECT embedded_at FROM movies WHERE source_key = 'Film4'") == before
    row = await conn.fetchrow("SELECT embedding, embedded_hash, content_hash FROM movies WHERE source_key = 'Film3'")
    assert row["embedded_hash"] == row["content_hash"]
    assert np.allclose(as_array(row["embedding"]), fake_embedder.vector(embedding_text(edited.content)))


async def test_another_model_is_a_new_generation_then_full_rerun(
    conn: asyncpg.Connection, fake_embedder: FakeEmbedder
) -> None:
    await seed_movies(conn, 10, title_only=True)
    await embed_movies(conn, fake_embedder)
    other = FakeEmbedder(model_name="another-model")
    with pytest.raises(GenerationMismatch, match="a new generation"):
        await embed_movies(conn, other)  # never written over the serving vectors
    # The refresh backfills it beside them (the serving model cannot load here: a fake), then switches.
    outcome = await refresh_embeddings(conn, other, Settings())
    assert outcome.run is None and outcome.backfill is not None and outcome.backfill.embedded == 11
    assert outcome.switched is not None and outcome.switched.active.model == "another-model"
    assert (await embed_movies(conn, other)).embedded == 0
    assert (await embed_movies(conn, other, full=True)).embedded == 11


async def test_interrupted_run_resumes_where_it_stopped(conn: asyncpg.Connection, fake_embedder: FakeEmbedder) -> None:
    await seed_movies(conn, 50, title_only=True)
    partial = await embed_movies(conn, fake_embedder, batch_size=10, max_batches=2)
    assert partial.embedded == 20
    fake_embedder.calls.clear()
    rest = await embed_movies(conn, fake_embedder, batch_size=10)
    assert (rest.embedded, rest.skipped) == (31, 20)
    assert sum(fake_embedder.calls) == 31  # nothing embedded twice


async def test_cancelled_run_is_recorded_and_keeps_committed_batches(conn: asyncpg.Connection) -> None:
    await seed_movies(conn, 60, title_only=True)

    class Slow(FakeEmbedder):
        def encode(self, texts):  # type: ignore[no-untyped-def]
            import time

            time.sleep(0.2)
            return super().encode(texts)

    task = asyncio.create_task(embed_movies(conn, Slow(), batch_size=10))
    await asyncio.sleep(0.75)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = await conn.fetchrow("SELECT * FROM embedding_runs ORDER BY id DESC LIMIT 1")
    stored = await conn.fetchval("SELECT count(*) FROM movies WHERE embedding IS NOT NULL")
    assert run["status"] == "interrupted" and run["embedded"] == stored
    assert 0 < stored < 61 and stored % 10 == 0  # whole batches only
    assert (await embed_movies(conn, FakeEmbedder(), batch_size=10)).embedded == 61 - stored


async def test_a_text_that_fails_costs_only_itself(conn: asyncpg.Connection) -> None:
    await seed_movies(conn, 8, title_only=True)
    result = await embed_movies(conn, FakeEmbedder(fail_on="Film 5"))
    assert (result.embedded, result.failed) == (8, 1)
    assert await conn.fetchval("SELECT embedding IS NULL FROM movies WHERE source_key = 'Film5'")


async def test_two_runs_never_overlap(conn: asyncpg.Connection, database_url: str) -> None:
    from app.db.connections import connect

    await seed_movies(conn, 5, title_only=True)
    other = await connect(database_url)
    try:
        await other.execute("SELECT pg_advisory_lock(7361044202)")
        with pytest.raises(EmbeddingBusy):
            await embed_movies(conn, FakeEmbedder())
    finally:
        await other.close()
    assert (await embed_movies(conn, FakeEmbedder())).embedded == 6


@pytest.mark.model
async def test_real_model_neighbours_make_sense(conn: asyncpg.Connection, model: SentenceTransformerEmbedder) -> None:
    await import_demo(conn)
    result = await embed_movies(conn, model)
    assert result.embedded >= 150
    norms = await conn.fetchval("SELECT max(abs(vector_norm(embedding) - 1)) FROM movies")
    assert norms < 1e-4

    async def nearest(tmdb_id: int, k: int) -> list[str]:
        rows = await conn.fetch(
            "SELECT m.title FROM movies m, movies x WHERE x.tmdb_id = $1 AND m.id <> x.id "
            "ORDER BY m.embedding <=> x.embedding LIMIT $2",
            tmdb_id,
            k,
        )
        return [r["title"] for r in rows]

    assert {"Toy Story 2", "Toy Story 3"} <= set(await nearest(862, 3))
    assert "The Lord of the Rings: The Two Towers" in await nearest(120, 3)
    assert "The Godfather Part II" in await nearest(238, 3)


async def test_passages_are_written_and_replaced_with_the_films_vector(
    conn: asyncpg.Connection, fake_embedder: FakeEmbedder
) -> None:
    record = MovieRecord(
        title="Inception", year=2010, source="t", source_key="1",
        overview="Inception is a 2010 film by Christopher Nolan. A thief steals secrets from people's dreams.",
    )  # fmt: skip
    await import_movies(conn, [("f", record)], "source_key")
    assert await conn.fetchval("SELECT search_document IS NULL FROM movies")  # words follow with the vector
    await embed_movies(conn, fake_embedder)
    movie = await conn.fetchval("SELECT id FROM movies")
    words = "SELECT search_document @@ websearch_to_tsquery('english', $2) FROM movies WHERE id = $1"
    assert await conn.fetchval(words, movie, "Christopher Nolan thief")
    stored = await conn.fetch("SELECT ordinal, embedding FROM movie_passages WHERE movie_id = $1 ORDER BY 1", movie)
    assert [r["ordinal"] for r in stored] == [0, 1, 2]  # the film's own vector, then each sentence
    film = await conn.fetchval("SELECT embedding FROM movies WHERE id = $1", movie)
    assert np.allclose(as_array(stored[0]["embedding"]), as_array(film), atol=1e-6)
    expected = fake_embedder.vector("A thief steals secrets from people's dreams.")
    assert np.allclose(as_array(stored[2]["embedding"]), expected, atol=1e-6)
    shorter = MovieRecord(
        title="Inception", year=2010, source="t", source_key="1", overview="One sentence is left here."
    )
    await import_movies(conn, [("f", shorter)], "source_key")
    await embed_movies(conn, fake_embedder)
    assert not await conn.fetchval(words, movie, "thief")  # the document follows the new text
    assert await conn.fetchval("SELECT count(*) FROM movie_passages WHERE movie_id = $1", movie) == 2
    await import_movies(conn, [("f", MovieRecord(title="Inception", source="t", source_key="1"))], "source_key")
    await embed_movies(conn, fake_embedder)
    assert await conn.fetchval("SELECT max(ordinal) FROM movie_passages") == 0  # a thin record: its own vector only


async def test_a_changed_recipe_rehashes_and_re_embeds_once(
    conn: asyncpg.Connection, fake_embedder: FakeEmbedder
) -> None:
    await seed_movies(conn, 12)
    await embed_movies(conn, fake_embedder)
    # As if these hashes were computed by an older recipe.
    await conn.execute("UPDATE movies SET content_hash = 'old', embedded_hash = 'old'")
    await conn.execute("UPDATE embedding_recipe SET version = '1'")
    rerun = await embed_movies(conn, fake_embedder)
    assert rerun.embedded == 12
    assert await conn.fetchval("SELECT version FROM embedding_recipe") == RECIPE_VERSION
    assert await conn.fetchval("SELECT count(*) FROM movies WHERE content_hash = 'old'") == 0
    assert (await embed_movies(conn, fake_embedder)).embedded == 0
