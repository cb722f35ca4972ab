"""Taste profiles as the API reads them: one aggregate query, whatever the number of ratings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from app.recs.ranking import profile_from_groups
from app.vectors import FloatArray, as_array

# A taste profile needs only, per user and liked rating value, how many movies and their mean
# vector: sum(rating * v) = sum over values of rating * count * mean. At most ten rows per user,
# however many movies they rated.
PROFILE_PARTS = """
SELECT r.user_id, r.rating::float8 AS rating, count(*) AS movies, avg(m.embedding) AS mean
FROM ratings r JOIN movies m ON m.id = r.movie_id
WHERE r.user_id = ANY($1::bigint[]) AND r.rating >= $2 AND m.embedding IS NOT NULL
GROUP BY r.user_id, r.rating
"""


async def load_profiles(
    conn: asyncpg.Connection, user_ids: Sequence[int], like_threshold: float
) -> dict[int, FloatArray | None]:
    """Each user's taste vector (None on a cold start), as `ranking.taste_profile` defines it."""
    rows = await conn.fetch(PROFILE_PARTS, list(user_ids), like_threshold)
    groups: dict[int, list[tuple[float, int, FloatArray]]] = defaultdict(list)
    for row in rows:
        groups[row["user_id"]].append((row["rating"], row["movies"], as_array(row["mean"])))
    return {user: profile_from_groups(groups.get(user, [])) for user in user_ids}
