"""Rating and un-rating movies, with validation that writes nothing on bad input."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import asyncpg

from app.errors import BadUserInput, NotFound
from app.sql import ratings as sql


def check_rating(rating: float) -> Decimal:
    """0.5 to 5.0 in steps of 0.5; NaN and infinities refused."""
    if not math.isfinite(rating) or not 0.5 <= rating <= 5.0 or (rating * 2) != int(rating * 2):
        raise BadUserInput(f"rating must be 0.5 to 5.0 in steps of 0.5, got {rating}")
    return Decimal(str(rating))


async def rate_movie(conn: asyncpg.Connection, user_id: int, movie_id: int, rating: float) -> dict[str, Any]:
    """Create or replace the user's rating of a movie."""
    value = check_rating(rating)
    try:
        row = await conn.fetchrow(sql.UPSERT_RATING, user_id, movie_id, value)
    except asyncpg.ForeignKeyViolationError as error:
        what = "user" if "user" in (error.constraint_name or "") else "movie"
        raise NotFound(f"{what} {user_id if what == 'user' else movie_id} does not exist") from None
    return dict(row)


async def remove_rating(conn: asyncpg.Connection, user_id: int, movie_id: int) -> bool:
    """Delete the user's rating of a movie; False when there was none."""
    return await conn.fetchval(sql.DELETE_RATING, user_id, movie_id) is not None
