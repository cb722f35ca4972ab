"""Migrations, the dimension guard, the vector index and `doctor`, against a real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from app.catalogue.importers.demo import import_demo
from app.cli.doctor import doctor_checks as doctor
from app.db.connections import connect
from app.db.migrate import DimensionMismatch, check_dimension, column_dimension, migrate
from app.embeddings.pipeline import embed_movies
from app.search.index import (
    DESCRIBED_INDEX_NAME,
    INDEX_NAME,
    describe_index,
    describe_indexes,
    ensure_index,
    ivfflat_lists,
    ivfflat_probes,
)
from app.settings import Settings
from app.status.doctor import memory_check
from tests.fakes import FakeEmbedder


async def test_migrations_apply_once_even_when_run_concurrently(database_url: str) -> None:
    first, second = await connect(database_url, vector=False), await connect(database_url, vector=False)
    try:
        applied = await asyncio.gather(migrate(first, 384), migrate(second, 384))
        assert sorted(len(a) for a in applied) == [0, 8]  # one applied them, the other waited and found nothing
        assert await migrate(first, 384) == []
        assert await first.fetchval("SELECT count(*) FROM schema_migrations") == 8
        assert await column_dimension(first) == 384
    finally:
        await first.close()
        await second.close()


async def test_a_column_changed_by_hand_is_refused_with_both_numbers_and_the_fix(conn: asyncpg.Connection) -> None:
    await check_dimension(conn)  # the column and the active generation agree
    await conn.execute("DROP INDEX IF EXISTS movies_embedding_idx; ALTER TABLE movies ALTER embedding TYPE vector(768)")
    with pytest.raises(DimensionMismatch) as error:
        await check_dimension(conn)
    message = str(error.value)
    assert "768" in message and "384" in message and "MOVIEREC_MODEL" in message


async def test_column_dimension_reads_the_typmod(conn: asyncpg.Connection) -> None:
    # information_schema only says USER-DEFINED; format_type keeps vector(384).
    assert (
        await conn.fetchval(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'movies' AND column_name = 'embedding'"
        )
        == "USER-DEFINED"
    )
    assert await column_dimension(conn) == 384


def test_ivfflat_sizing() -> None:
    assert ivfflat_lists(500) == 1
    assert ivfflat_lists(36_273) == 36
    assert ivfflat_lists(1_000_000) == 1000
    assert ivfflat_lists(4_000_000) == 2000
    assert ivfflat_probes(Settings(), 36) == 6
    assert ivfflat_probes(Settings(ivfflat_probes=3), 36) == 3


async def _embedded_demo(conn: asyncpg.Connection) -> None:
    await import_demo(conn)
    await embed_movies(conn, FakeEmbedder(model_name="all-MiniLM-L6-v2"))


async def test_hnsw_build_keep_and_rebuild(conn: asyncpg.Connection) -> None:
    await _embedded_demo(conn)
    settings = Settings()
    built = await ensure_index(conn, settings)
    assert built.action == "built" and built.info is not None
    assert (built.info.method, built.info.opclass, built.info.valid) == ("hnsw", "vector_cosine_ops", True)
    assert built.info.options == {"m": "16", "ef_construction": "64"}
    assert (await ensure_index(conn, settings)).action == "kept"
    assert (await ensure_index(conn, settings, rebuild=True)).action == "rebuilt"
    changed = await ensure_index(conn, Settings(index_metric="l2", hnsw_m=8, hnsw_ef_construction=32))
    assert changed.action == "rebuilt" and changed.info is not None
    assert (changed.info.opclass, changed.info.options["m"]) == ("vector_l2_ops", "8")
    # The described films' partial index follows the same settings.
    both = {info.name: info for info in await describe_indexes(conn)}
    assert set(both) == {INDEX_NAME, DESCRIBED_INDEX_NAME}
    assert (both[DESCRIBED_INDEX_NAME].opclass, both[DESCRIBED_INDEX_NAME].options["m"]) == ("vector_l2_ops", "8")
    definition = await conn.fetchval("SELECT pg_get_indexdef(to_regclass($1))", DESCRIBED_INDEX_NAME)
    assert definition.endswith("WHERE has_overview")


async def test_a_database_without_the_described_films_index_gets_only_that_one(conn: asyncpg.Connection) -> None:
    """A database indexed before the partial index existed: `index` adds it and leaves the other alone."""
    await _embedded_demo(conn)
    settings = Settings()
    await ensure_index(conn, settings)
    kept = await conn.fetchval("SELECT to_regclass($1)::oid", INDEX_NAME)
    await conn.execute(f"DROP INDEX {DESCRIBED_INDEX_NAME}")
    check = {c.name: c for c in await doctor(conn, settings)}["vector index"]
    assert not check.ok and check.detail == "hnsw valid; described films' index missing"
    assert check.fix == "run `movierec index`"
    added = await ensure_index(conn, settings)
    assert added.action == "built" and added.message == "built hnsw index of described films over 206 vectors"
    assert await conn.fetchval("SELECT to_regclass($1)::oid", INDEX_NAME) == kept
    assert {c.name: c for c in await doctor(conn, settings)}["vector index"].ok


async def test_ivfflat_is_not_built_on_a_small_table(conn: asyncpg.Connection) -> None:
    await _embedded_demo(conn)
    skipped = await ensure_index(conn, Settings(index_type="ivfflat"))
    assert skipped.action == "skipped" and "exact scan" in skipped.message
    assert await describe_index(conn) is None
    built = await ensure_index(conn, Settings(index_type="ivfflat", ivfflat_min_rows=100, index_metric="inner_product"))
    assert built.info is not None and (built.info.method, built.info.opclass) == ("ivfflat", "vector_ip_ops")
    assert built.info.options == {"lists": "1"}


async def test_doctor_finds_an_invalid_or_dropped_index_and_index_repairs_it(conn: asyncpg.Connection) -> None:
    await _embedded_demo(conn)
    settings = Settings()
    await ensure_index(conn, settings)
    checks = {c.name: c for c in await doctor(conn, settings)}
    assert all(c.ok for c in checks.values()), [c.line() for c in checks.values()]
    # What a failed CREATE INDEX CONCURRENTLY leaves behind: an index marked invalid.
    await conn.execute(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{INDEX_NAME}'::regclass")
    check = {c.name: c for c in await doctor(conn, settings)}["vector index"]
    assert not check.ok and "INVALID" in check.detail and "movierec index --rebuild" in check.fix
    repaired = await ensure_index(conn, settings)
    assert "dropped invalid index" in repaired.message and repaired.info is not None and repaired.info.valid
    await conn.execute(f"DROP INDEX {INDEX_NAME}")
    check = {c.name: c for c in await doctor(conn, settings)}["vector index"]
    assert not check.ok and check.detail == "missing" and check.fix == "run `movierec index`"


async def test_doctor_reports_coverage_and_stale_statistics(conn: asyncpg.Connection) -> None:
    await import_demo(conn)
    checks = {c.name: c for c in await doctor(conn, Settings())}
    assert not checks["coverage"].ok and checks["coverage"].fix == "run `movierec embed`"
    assert not checks["planner statistics"].ok
    assert checks["pgvector extension"].ok and checks["pgvector extension"].detail.startswith("version 0.8")
    assert checks["shared buffers"].ok and checks["shared buffers"].detail.endswith("MB of vector indexes")


def test_the_memory_check_asks_for_shared_buffers_that_hold_the_vector_indexes() -> None:
    mib = 1024 * 1024
    assert memory_check(1024 * mib, 331 * mib).ok  # the benchmark's server: 1 GB for the Wikipedia catalogue
    small = memory_check(128 * mib, 331 * mib)  # PostgreSQL's default
    assert not small.ok and small.detail == "128 MB for 331 MB of vector indexes"
    assert "shared_buffers = '768MB'" in small.fix


async def test_rating_stats_follow_every_write(conn: asyncpg.Connection) -> None:
    """movie_rating_stats (kept by triggers) equals a fresh count after imports, edits and deletes."""
    from app.catalogue.ratings import rate_movie, remove_rating

    exact = """
        SELECT m.id, count(r.movie_id) AS ratings, coalesce(sum(r.rating), 0) AS total
        FROM movies m LEFT JOIN ratings r ON r.movie_id = m.id GROUP BY m.id HAVING count(r.movie_id) > 0 ORDER BY m.id
    """
    kept = "SELECT movie_id, ratings, rating_sum FROM movie_rating_stats WHERE ratings > 0 ORDER BY movie_id"

    async def same() -> None:
        assert [tuple(r) for r in await conn.fetch(exact)] == [tuple(r) for r in await conn.fetch(kept)]

    await import_demo(conn)
    await same()
    await import_demo(conn)  # re-import: upserts that change nothing
    await same()
    movie = await conn.fetchval("SELECT id FROM movies ORDER BY id LIMIT 1")
    await rate_movie(conn, 5, movie, 4.5)
    await rate_movie(conn, 5, movie, 2.0)  # an update of the same rating
    await same()
    await remove_rating(conn, 5, movie)
    await conn.execute("DELETE FROM users WHERE id = 1")  # cascades to that user's ratings
    await same()
