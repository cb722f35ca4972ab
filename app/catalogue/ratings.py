"""Ratings: rating and un-rating a movie (nothing written on bad input), and reading a user's ratings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from app.errors import BadUserInput, NotFound

UPSERT_RATING = """
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (user_id, movie_id) DO UPDATE SET rating = excluded.rating, rated_at = now(), updated_at = now()
RETURNING user_id, movie_id, rating::float8 AS rating, rated_at
"""

DELETE_RATING = "DELETE FROM ratings WHERE user_id = $1 AND movie_id = $2 RETURNING movie_id"

RATINGS_BY_USERS = """
SELECT user_id, movie_id, rating::float8 AS rating, rated_at
FROM ratings WHERE user_id = ANY($1::bigint[])
ORDER BY user_id, rated_at DESC, movie_id
"""


def check_rating(rating: float) -> Decimal:
    """0.5 to 5.0 in steps of 0.5; NaN and infinities refused."""
    if not math.isfinite(rating) or not 0.5 <= rating <= 5.0 or (rating * 2) != int(rating * 2):
        raise BadUserInput(f"rating must be 0.5 to 5.0 in steps of 0.5, got {rating}")
    return Decimal(str(rating))


async def rate_movie(conn: asyncpg.Connection, user_id: int, movie_id: int, rating: float) -> dict[str, Any]:
    """Create or replace the user's rating of a movie."""
    value = check_rating(rating)
    try:
        row = await conn.fetchrow(UPSERT_RATING, user_id, movie_id, value)
    except asyncpg.ForeignKeyViolationError as error:
        what = "user" if "user" in (error.constraint_name or "") else "movie"
        raise NotFound(f"{what} {user_id if what == 'user' else movie_id} does not exist") from None
    return dict(row)


async def remove_rating(conn: asyncpg.Connection, user_id: int, movie_id: int) -> bool:
    """Delete the user's rating of a movie; False when there was none."""
    return await conn.fetchval(DELETE_RATING, user_id, movie_id) is not None


async def load_ratings_by_users(conn: asyncpg.Connection, ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each user's ratings, newest first."""
    grouped: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in await conn.fetch(RATINGS_BY_USERS, list(set(ids))):
        grouped[row["user_id"]].append(dict(row))
    return [grouped[i] for i in ids]
