"""Reading the catalogue (by ids, paged title search) and the admin's single-movie upsert."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.errors import BadUserInput, NotFound, check_limit
from app.importers.records import MovieRecord, RowError
from app.movie_text import content_hash
from app.sql import jobs as jobs_sql
from app.sql import movies as sql
from app.sql import ratings as rating_sql
from app.sql import writes as write_sql
from app.vector_search import MovieFilter


async def load_movies_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> list[dict[str, Any] | None]:
    """Movies in the order of `ids` (None where missing): the DataLoader's batch function."""
    rows = await conn.fetch(sql.MOVIES_BY_IDS, list(set(ids)))
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id.get(i) for i in ids]


async def load_users_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> list[dict[str, Any] | None]:
    """Users in the order of `ids` (None where missing)."""
    rows = await conn.fetch(rating_sql.USERS_BY_IDS, list(set(ids)))
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id.get(i) for i in ids]


async def load_ratings_by_users(conn: asyncpg.Connection, ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each user's ratings, newest first."""
    grouped: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in await conn.fetch(rating_sql.RATINGS_BY_USERS, list(set(ids))):
        grouped[row["user_id"]].append(dict(row))
    return [grouped[i] for i in ids]


async def movie_id_by_tmdb_id(pool: asyncpg.Pool, tmdb_id: int | None) -> int | None:
    """The catalogue id of a TMDB id, if the catalogue has it."""
    async with pool.acquire() as conn:
        found: int | None = await conn.fetchval(write_sql.MOVIE_ID_BY_TMDB_ID, tmdb_id)
        return found


@dataclass(frozen=True)
class MoviePage:
    """One page of a title search and the cursor for the next."""

    movies: list[dict[str, Any]]
    end_cursor: str | None
    has_next_page: bool


def _encode_cursor(title: str, movie_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([title, movie_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        title, movie_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(title), int(movie_id)
    except (ValueError, TypeError):
        raise BadUserInput("after is not a cursor this API returned") from None


async def list_movies(
    conn: asyncpg.Connection, search: str | None, movie_filter: MovieFilter, first: int, after: str | None
) -> MoviePage:
    """Movies whose title contains `search`, by title, `first` at a time after the cursor."""
    check_limit(first, name="first")
    pattern = None
    if search and search.strip():
        escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
    title, last_id = _decode_cursor(after) if after else (None, None)
    rows = await conn.fetch(sql.LIST_MOVIES, pattern, *movie_filter.params(), title, last_id, first + 1)
    movies = [dict(row) for row in rows[:first]]
    cursor = _encode_cursor(movies[-1]["sort_title"], movies[-1]["id"]) if movies else None
    return MoviePage(movies=movies, end_cursor=cursor, has_next_page=len(rows) > first)


async def upsert_movie(conn: asyncpg.Connection, movie_id: int | None, record: MovieRecord) -> tuple[int, bool]:
    """Create or update one movie (inside the caller's transaction); a content change makes it stale."""
    row = record.as_row()
    values = [
        row["tmdb_id"],
        row["imdb_id"],
        row["title"],
        row["year"],
        row["overview"],
        row["genres"],
        row["keywords"],
        row["cast_members"],
        row["director"],
        row["vote_average"],
        row["vote_count"],
        row["popularity"],
        row["poster_url"],
        content_hash(record.content),
    ]
    if movie_id is None and record.tmdb_id is not None:
        movie_id = await conn.fetchval(write_sql.MOVIE_ID_BY_TMDB_ID, record.tmdb_id)
    try:
        if movie_id is None:
            result = await conn.fetchrow(write_sql.INSERT_MOVIE, str(uuid.uuid4()), *values)
        else:
            result = await conn.fetchrow(write_sql.UPDATE_MOVIE, movie_id, *values)
            if result is None:
                raise NotFound(f"movie {movie_id} does not exist")
    except asyncpg.UniqueViolationError as error:
        raise BadUserInput(f"another movie already has this {error.constraint_name or 'key'}") from None
    if result["needs_embedding"]:
        # Same transaction as the change: the need to embed is never lost, even if Redis is down.
        await conn.execute(jobs_sql.ADD_TO_OUTBOX, result["id"])
    return int(result["id"]), bool(result["needs_embedding"])


def movie_record(fields: dict[str, Any]) -> MovieRecord:
    """Validate API input as a movie record (BAD_USER_INPUT on anything invalid)."""
    try:
        return MovieRecord(**fields)
    except RowError as error:
        raise BadUserInput(str(error)) from None
