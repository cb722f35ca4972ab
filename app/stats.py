"""`movierec stats` and `movierec doctor`: coverage, index facts, and health checks with fixes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from app.migrations import column_dimension, pending_migrations
from app.settings import Settings
from app.sql import admin as admin_sql
from app.sql import embedding as embedding_sql
from app.sql import stats as sql
from app.vector_index import IndexInfo, describe_index


@dataclass(frozen=True)
class Stats:
    """Coverage and index facts, as `movierec stats` and the API's `stats` show them."""

    total_movies: int
    with_embeddings: int
    current_embeddings: int
    users: int
    ratings: int
    model: str
    dimension: int | None
    index: IndexInfo | None
    last_run: dict[str, Any] | None

    @property
    def coverage(self) -> float:
        """Share of movies with an up-to-date embedding from the configured model, in percent."""
        return 100.0 * self.current_embeddings / self.total_movies if self.total_movies else 100.0

    def lines(self) -> list[str]:
        """Human-readable lines."""
        out = [
            f"movies: {self.total_movies}",
            f"with embeddings: {self.with_embeddings} ({self.current_embeddings} current)",
            f"coverage: {self.coverage:.1f}%",
            f"model: {self.model} ({self.dimension} dimensions)",
            f"users: {self.users}, ratings: {self.ratings}",
        ]
        if self.index is None:
            out.append("index: none (exact scan)")
        else:
            params = ", ".join(f"{k}={v}" for k, v in sorted(self.index.options.items()))
            out.append(
                f"index: {self.index.method} {self.index.opclass} ({params}), "
                f"{'valid' if self.index.valid else 'INVALID'}, {self.index.size_bytes / 2**20:.1f} MiB"
            )
        if self.last_run:
            run = self.last_run
            out.append(
                f"last run: #{run['id']} {run['status']} at {run['started_at']:%Y-%m-%d %H:%M:%S}, "
                f"embedded {run['embedded']}, skipped {run['skipped']}, failed {run['failed']}"
            )
        return out


async def collect_stats(conn: asyncpg.Connection, model: str) -> Stats:
    """Read coverage, counts, the index and the last embedding run."""
    coverage = await conn.fetchrow(sql.COVERAGE, model)
    people = await conn.fetchrow(sql.COUNT_USERS_AND_RATINGS)
    last_run = await conn.fetchrow(embedding_sql.LAST_RUN)
    return Stats(
        total_movies=coverage["total"],
        with_embeddings=coverage["with_embedding"],
        current_embeddings=coverage["current"],
        users=people["users"],
        ratings=people["ratings"],
        model=model,
        dimension=await column_dimension(conn),
        index=await describe_index(conn),
        last_run=dict(last_run) if last_run else None,
    )


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


async def run_checks(conn: asyncpg.Connection, settings: Settings, dimension: int) -> list[Check]:
    """The design document's troubleshooting steps, as checks."""
    checks: list[Check] = []
    version = await conn.fetchval(admin_sql.VECTOR_EXTENSION_VERSION)
    checks.append(
        Check(
            "pgvector extension",
            version is not None,
            f"version {version}" if version else "not installed",
            "run `movierec migrate` (it runs CREATE EXTENSION vector)",
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
    stored = await column_dimension(conn) if version else None
    checks.append(
        Check(
            "embedding column",
            stored == dimension,
            f"vector({stored}) for a {dimension}-dimensional model" if stored else "missing",
            "run `movierec migrate`" if stored is None else "run `movierec resize-embeddings`",
        )
    )
    if stored is None:
        return checks
    stats = await collect_stats(conn, settings.model)  # it reads the index too
    index = stats.index
    small_ivfflat = settings.index_type == "ivfflat" and stats.with_embeddings < settings.ivfflat_min_rows
    if index is None:
        checks.append(
            Check(
                "vector index",
                small_ivfflat,
                "none: exact scan on a small table" if small_ivfflat else "missing",
                "run `movierec index`",
            )
        )
    else:
        checks.append(
            Check(
                "vector index",
                index.valid,
                f"{index.method} {'valid' if index.valid else 'INVALID (a failed build)'}",
                "run `movierec index --rebuild`",
            )
        )
    checks.append(
        Check(
            "coverage",
            stats.current_embeddings == stats.total_movies,
            f"{stats.current_embeddings}/{stats.total_movies} ({stats.coverage:.1f}%)",
            "run `movierec embed`",
        )
    )
    table = await conn.fetchrow(sql.TABLE_STATISTICS)
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
