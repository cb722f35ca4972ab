"""`movierec doctor`: the design document's troubleshooting steps as checks, each OK or FAIL with its fix."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.db.migrate import active_generation_dimension, column_dimension, pending_migrations, vector_extension_version
from app.db.portable import is_portable, pgvector_available
from app.embeddings.generations import index_valid
from app.search.index import DESCRIBED_INDEX_NAME
from app.settings import Settings
from app.status.stats import Stats, collect_stats

TABLE_STATISTICS = """
SELECT n_live_tup, n_mod_since_analyze, greatest(last_analyze, last_autoanalyze) AS analyzed_at
FROM pg_stat_user_tables WHERE relname = 'movies'
"""

# A k-NN read walks its vector index: when the indexes outgrow PostgreSQL's shared buffers, reads come
# from the operating system's cache instead (the full Wikipedia catalogue's passage index alone is
# 260 MB against the default 128 MB of shared buffers: meaning searches took about 2 ms longer).
VECTOR_INDEX_MEMORY = """
SELECT pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers,
       coalesce(sum(pg_relation_size(i.indexrelid)), 0)::bigint AS vector_indexes
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE a.amname IN ('hnsw', 'ivfflat')
"""


@dataclass(frozen=True)
class Check:
    """One doctor check: OK or FAIL, what was found, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """`OK   name: detail` or `FAIL name: detail -> fix`."""
        head = f"{'OK  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"
        return head if self.ok else f"{head}\n     fix: {self.fix}"


def _generations_check(stats: Stats, settings: Settings) -> Check:
    """The configured model serves, or a backfill of it is on its way (a model change in progress is fine)."""
    slots = {each.generation.slot: each for each in stats.generations}
    active, upcoming = slots["active"], slots.get("next")
    lines = "; ".join(each.line() for each in stats.generations)
    if active.generation.model == settings.embedding_model:
        return Check("embedding generations", True, lines)
    backfilling = upcoming is not None and upcoming.generation.model == settings.embedding_model
    return Check(
        "embedding generations",
        backfilling,
        f"{lines}; configured {settings.embedding_model}" + (" (backfilling)" if backfilling else " (not started)"),
        "start the worker or run `movierec embed`: it backfills the configured model, then switches",
    )


def memory_check(shared_buffers: int, vector_indexes: int) -> Check:
    """OK when PostgreSQL's shared buffers (bytes) hold the vector indexes (bytes)."""
    mib = 1024 * 1024
    wanted = -(-vector_indexes * 2 // (256 * mib)) * 256  # twice the indexes (tables, growth), 256 MB steps
    return Check(
        "shared buffers",
        shared_buffers >= vector_indexes,
        f"{shared_buffers // mib} MB for {vector_indexes // mib} MB of vector indexes",
        f"raise PostgreSQL's shared_buffers to about {wanted} MB (ALTER SYSTEM SET shared_buffers = '{wanted}MB', "
        "then restart it; the compose file sets 1GB)",
    )


async def run_checks(conn: asyncpg.Connection, settings: Settings) -> list[Check]:
    """The design document's troubleshooting steps, as checks."""
    checks: list[Check] = []
    version = await vector_extension_version(conn)
    portable = version is None and await is_portable(conn)
    available = version is None and await pgvector_available(conn)
    detail = f"version {version}" if version else "not installed"
    if portable:  # a supported deployment: exact k-NN in the API process
        detail += ": portable schema, in-process exact search" + ("; the server offers it now" if available else "")
    checks.append(
        Check(
            "pgvector extension",
            version is not None or (portable and not available),
            detail,
            "run `movierec migrate`: it moves the vectors into pgvector (kept), then `movierec index`"
            if portable
            else "run `movierec migrate` (it runs CREATE EXTENSION vector)",
        )
    )
    pending = await pending_migrations(conn)
    checks.append(
        Check(
            "migrations",
            not pending,
            "all applied" if not pending else f"{len(pending)} pending",
            "run `movierec migrate`",
        )
    )
    stored = await column_dimension(conn) if version or portable else None
    dimension = await active_generation_dimension(conn) if not pending else None
    checks.append(
        Check(
            "embedding column",
            stored is not None and stored == dimension,
            f"vector({stored}) for the active generation's {dimension}-dimensional model" if stored else "missing",
            "run `movierec migrate`"
            if stored is None or dimension is None
            else "restore movies.embedding's type (changed outside movierec)",
        )
    )
    if stored is None or dimension is None:
        return checks
    stats = await collect_stats(conn)  # it reads the index and the generations too
    checks.append(_generations_check(stats, settings))
    index = stats.index
    small_ivfflat = settings.index_type == "ivfflat" and stats.with_embeddings < settings.ivfflat_min_rows
    if portable:
        checks.append(Check("vector index", True, "none without pgvector: exact search in the API process"))
    elif index is None:
        checks.append(
            Check(
                "vector index",
                small_ivfflat,
                "none: exact scan on a small table" if small_ivfflat else "missing",
                "run `movierec index`",
            )
        )
    else:
        described = await index_valid(conn, DESCRIBED_INDEX_NAME)
        detail = f"{index.method} {'valid' if index.valid else 'INVALID (a failed build)'}"
        if described is not True:
            detail += "; described films' index " + ("missing" if described is None else "INVALID (a failed build)")
        checks.append(
            Check(
                "vector index",
                index.valid and described is True,
                detail,
                "run `movierec index`" if index.valid and described is None else "run `movierec index --rebuild`",
            )
        )
    memory = await conn.fetchrow(VECTOR_INDEX_MEMORY)
    checks.append(memory_check(int(memory["shared_buffers"]), int(memory["vector_indexes"])))
    checks.append(
        Check(
            "coverage",
            stats.current_embeddings == stats.total_movies,
            f"{stats.current_embeddings}/{stats.total_movies} ({stats.coverage:.1f}%)",
            "run `movierec embed`",
        )
    )
    table = await conn.fetchrow(TABLE_STATISTICS)
    fresh = table is not None and (
        table["analyzed_at"] is not None and table["n_mod_since_analyze"] <= max(50, table["n_live_tup"] // 5)
    )
    detail = (
        "never analyzed"
        if table is None or table["analyzed_at"] is None
        else (f"analyzed {table['analyzed_at']:%Y-%m-%d %H:%M}, {table['n_mod_since_analyze']} rows changed since")
    )
    checks.append(
        Check(
            "planner statistics",
            fresh or stats.total_movies == 0,
            detail,
            "run `movierec index` (it ends with ANALYZE movies)",
        )
    )
    return checks
