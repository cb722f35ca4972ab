"""Reading the audit trail of embedding runs (the pipeline writes it)."""

from __future__ import annotations

from typing import Any

import asyncpg

_RUN_COLUMNS = """id, trigger, model, full_run, status, started_at, finished_at,
       embedded, skipped, failed, title_only, error, job_id"""

LAST_RUN = f"SELECT {_RUN_COLUMNS} FROM embedding_runs ORDER BY id DESC LIMIT 1"
RUN_BY_JOB_ID = f"SELECT {_RUN_COLUMNS} FROM embedding_runs WHERE job_id = $1 ORDER BY id DESC LIMIT 1"
RECENT_RUNS = f"SELECT {_RUN_COLUMNS} FROM embedding_runs ORDER BY id DESC LIMIT $1"


async def load_last_run(conn: asyncpg.Connection) -> dict[str, Any] | None:
    """The newest run, if any."""
    row = await conn.fetchrow(LAST_RUN)
    return dict(row) if row else None


async def load_run_by_job_id(conn: asyncpg.Connection, job_id: str) -> dict[str, Any] | None:
    """The newest run a queued job started, if any."""
    row = await conn.fetchrow(RUN_BY_JOB_ID, job_id)
    return dict(row) if row else None


async def load_recent_runs(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` runs, newest first."""
    return [dict(row) for row in await conn.fetch(RECENT_RUNS, limit)]
