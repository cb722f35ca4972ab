"""Synthetic raters on the demo catalogue: enough ratings for a collaborative model, with clear tastes.

Sixty users in three clusters (science fiction, crime, animation) each rate about a third of the films
of their genre highly, a few others low; film and user choices come from a fixed hash, so every run
writes the same ratings.
"""

from __future__ import annotations

import asyncpg

CLUSTERS = ("Science Fiction", "Crime", "Animation")

SEED_RATINGS = """
WITH raters AS (
    INSERT INTO users (name, source, source_key)
    SELECT 'Synthetic ' || g, 'synthetic', g::text FROM generate_series(1, $1::int) AS g
    RETURNING id, source_key::int AS n
)
INSERT INTO ratings (user_id, movie_id, rating, rated_at)
SELECT r.id, m.id,
       CASE WHEN ($2::text[])[1 + r.n % 3] = ANY(m.genres) THEN 4.5 ELSE 1.5 END,
       timestamptz '2025-01-01' + make_interval(mins => (r.n * 1000 + m.id)::int)
FROM raters r CROSS JOIN movies m
WHERE (($2::text[])[1 + r.n % 3] = ANY(m.genres) AND abs(hashtext(r.n || ':' || m.id)) % 3 = 0)
   OR abs(hashtext(r.n || '/' || m.id)) % 40 = 0
"""


async def seed_taste_clusters(conn: asyncpg.Connection, users: int = 60) -> int:
    """Write the synthetic raters and their ratings; how many ratings were written."""
    status = await conn.execute(SEED_RATINGS, users, list(CLUSTERS))
    return int(status.split()[-1])
