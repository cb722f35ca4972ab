"""Users and ratings as importers write them: batched upserts keyed by (source, source key) and (user, movie)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

UPSERT_USERS = """
INSERT INTO users AS u (source, source_key, name)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT (source, source_key) DO UPDATE SET name = excluded.name
RETURNING u.source_key, u.id
"""

# Ratings keep the most recent value when a user rated twice.
UPSERT_RATINGS = """
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::numeric[], $4::timestamptz[])
ON CONFLICT (user_id, movie_id) DO UPDATE
    SET rating = excluded.rating, rated_at = excluded.rated_at, updated_at = now()
    WHERE (r.rating, r.rated_at) IS DISTINCT FROM (excluded.rating, excluded.rated_at)
RETURNING (xmax = 0) AS inserted
"""


async def upsert_users(
    conn: asyncpg.Connection, source: str, keys: Sequence[str], names: Sequence[str]
) -> dict[str, int]:
    """Create or rename users of one source; their ids by source key."""
    rows = await conn.fetch(UPSERT_USERS, [source] * len(keys), list(keys), list(names))
    return {row["source_key"]: row["id"] for row in rows}


async def upsert_ratings(
    conn: asyncpg.Connection, ratings: Sequence[tuple[int, int, Decimal, datetime]]
) -> tuple[int, int]:
    """Write (user id, movie id, rating, rated at) rows in one round trip; (inserted, updated)."""
    rows = await conn.fetch(
        UPSERT_RATINGS,
        [r[0] for r in ratings],
        [r[1] for r in ratings],
        [r[2] for r in ratings],
        [r[3] for r in ratings],
    )
    inserted = sum(1 for row in rows if row["inserted"])
    return inserted, len(rows) - inserted
