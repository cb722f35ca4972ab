"""Reading the audit trail of embedding runs (the pipeline writes it)."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.db.connections import advisory_lock_held
from app.embeddings.pipeline import EMBED_LOCK_KEY

# A 'running' row whose process died shows as interrupted at once: the pipeline holds a session-level
# advisory lock for the whole run, and PostgreSQL drops it with the dead process's connection. A run
# shared by workers in chunks has no such process: its chunks are redelivered by the queue instead.
_RUN_COLUMNS = f"""id, trigger, model, full_run, started_at, finished_at,
       embedded, skipped, failed, title_only, error, job_id, chunks, chunks_done,
       CASE WHEN status = 'running' AND chunks IS NULL AND NOT {advisory_lock_held(EMBED_LOCK_KEY)} THEN 'interrupted'
            ELSE status END AS status"""

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
