"""The embedding outbox: movies to embed soon, recorded in the same transaction as their change."""

from __future__ import annotations

from datetime import datetime

import asyncpg

ADD_TO_OUTBOX = "INSERT INTO embedding_outbox (movie_id) VALUES ($1)"

# Outbox rows whose movie now has a current embedding from the model are done.
MARK_OUTBOX_DONE = """
UPDATE embedding_outbox AS o SET processed_at = now()
FROM movies AS m
WHERE o.movie_id = m.id AND o.processed_at IS NULL
  AND m.embedded_hash = m.content_hash AND m.embedding_model = $1
"""

# What the sweeper re-enqueues: work recorded but not done after a grace period.
PENDING_OUTBOX = """
SELECT count(*) AS pending, min(created_at) AS oldest
FROM embedding_outbox WHERE processed_at IS NULL AND created_at < now() - make_interval(secs => $1)
"""


async def record_change(conn: asyncpg.Connection, movie_id: int) -> None:
    """Note that a movie needs embedding (call inside the transaction that changed it)."""
    await conn.execute(ADD_TO_OUTBOX, movie_id)


async def mark_done(conn: asyncpg.Connection, model: str) -> int:
    """Close the rows whose movie now has a current vector from `model`; how many were closed."""
    status = await conn.execute(MARK_OUTBOX_DONE, model)
    return int(status.split()[-1])


async def pending(conn: asyncpg.Connection, grace_seconds: float) -> tuple[int, datetime | None]:
    """How many rows have waited longer than the grace period, and since when."""
    row = await conn.fetchrow(PENDING_OUTBOX, grace_seconds)
    return int(row["pending"]), row["oldest"]
