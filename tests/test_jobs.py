"""The arq worker against a real Redis and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from app.catalogue.importers.pipeline import import_movies
from app.catalogue.importers.records import MovieRecord
from app.cron import ScheduleError, parse_cron
from app.embeddings.pipeline import embed_movies
from app.settings import Settings
from tests.fakes import FakeEmbedder
from tests.seeding import seed_movies
from tests.worker_support import burst_worker, drain


def test_cron_expressions() -> None:
    assert parse_cron("0 4 * * *") == {"minute": {0}, "hour": {4}}
    assert parse_cron("0 */12 * * *") == {"minute": {0}, "hour": {0, 12}}
    assert parse_cron("30 4,16 * * 1-5") == {"minute": {30}, "hour": {4, 16}, "weekday": {0, 1, 2, 3, 4}}
    assert parse_cron("0 0 * * 0") == {"minute": {0}, "hour": {0}, "weekday": {6}}
    for bad in ("0 4 * *", "61 * * * *", "a b c d e", "*/0 * * * *"):
        with pytest.raises(ScheduleError):
            parse_cron(bad)


@pytest.fixture
def job_settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, redis_url=redis_url, data_dir=tmp_path, outbox_grace_seconds=0, embed_batch=8
    )


async def test_cron_refresh_embeds_exactly_the_stale_movies(conn: asyncpg.Connection, job_settings: Settings) -> None:
    embedder = FakeEmbedder(model_name=job_settings.model)
    await seed_movies(conn, 20)
    await embed_movies(conn, embedder)
    await seed_movies(conn, 3, prefix="New")  # 3 new movies
    await import_movies(
        conn,
        [("edit", MovieRecord(title="Film 4", year=2001, overview="Changed.", source="t", source_key="Film4"))],
        "source_key",
    )
    await drain(job_settings, embedder, cron=True)
    run = await conn.fetchrow("SELECT * FROM embedding_runs WHERE trigger = 'cron'")
    assert (run["status"], run["embedded"], run["skipped"]) == ("succeeded", 4, 19)  # 3 new, 1 edited
    await drain(job_settings, embedder, cron=True)
    runs = await conn.fetch("SELECT embedded FROM embedding_runs WHERE trigger = 'cron' ORDER BY id")
    assert [r["embedded"] for r in runs] == [4, 0]


async def test_two_workers_refresh_once(conn: asyncpg.Connection, job_settings: Settings) -> None:
    embedder = FakeEmbedder(model_name=job_settings.model)
    await seed_movies(conn, 40)
    workers = [burst_worker(job_settings, embedder, cron=True) for _ in range(2)]
    await asyncio.gather(*(w.main() for w in workers))
    for w in workers:
        await w.close()
    runs = await conn.fetch("SELECT embedded FROM embedding_runs")
    # One run embeds everything; a worker whose tick comes after it finished finds nothing left.
    assert sorted(r["embedded"] for r in runs)[-1] == 40 and sum(r["embedded"] for r in runs) == 40
    assert sum(embedder.calls) == 40


async def test_a_cron_tick_during_a_refresh_does_nothing(
    conn: asyncpg.Connection, job_settings: Settings, database_url: str
) -> None:
    await seed_movies(conn, 5)
    holder = await asyncpg.connect(database_url)
    await holder.execute("SELECT pg_advisory_lock(7361044202)")  # a refresh in progress elsewhere
    try:
        await drain(job_settings, FakeEmbedder(model_name=job_settings.model), cron=True)
    finally:
        await holder.close()
    assert await conn.fetchval("SELECT count(*) FROM embedding_runs") == 0
    assert await conn.fetchval("SELECT count(*) FROM movies WHERE embedding IS NOT NULL") == 0


async def test_ivfflat_is_rebuilt_only_after_a_fifth_of_its_vectors_changed(conn: asyncpg.Connection) -> None:
    from app.embeddings.refresh import refresh_embeddings
    from app.search.index import describe_index, ensure_index

    settings = Settings(index_type="ivfflat", ivfflat_min_rows=10)
    embedder = FakeEmbedder(model_name=settings.model)
    await seed_movies(conn, 30)
    await embed_movies(conn, embedder)
    assert (await ensure_index(conn, settings)).action == "built"

    async def edit(count: int, text: str) -> None:
        records = [
            MovieRecord(title=f"Film {i}", year=2001, overview=text, source="t", source_key=f"Film{i}")
            for i in range(count)
        ]
        await import_movies(conn, [("edit", r) for r in records], "source_key")

    await edit(3, "A small change.")  # 3 of 30 vectors: 10%
    small = await refresh_embeddings(conn, embedder, settings)
    assert small.run.embedded == 3 and small.index is None
    await edit(9, "A bigger change.")  # 9 more of 30 since the build: 30%
    big = await refresh_embeddings(conn, embedder, settings)
    assert big.run.embedded == 9 and big.index is not None and big.index.action == "rebuilt"
    index = await describe_index(conn)
    assert index is not None and index.method == "ivfflat" and index.valid
