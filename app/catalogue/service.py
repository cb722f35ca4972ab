"""The catalogue as the API uses it: each operation takes a pooled connection for itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg

from app.catalogue import movies, ratings, users
from app.catalogue.movies import MoviePage
from app.catalogue.users import DemoSession
from app.db.replicas import ReadRouter
from app.search.filters import MovieFilter
from app.settings import Settings

# Told after a committed change that needs embedding (the API nudges the worker); best effort.
ChangeListener = Callable[[], Awaitable[object]]


async def _ignore_change() -> None:
    return None


class Catalogue:
    """Movies, users and ratings: reads for the DataLoaders, title search, ratings and the admin's upsert."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        secret: str,
        reads: ReadRouter,
        on_change: ChangeListener = _ignore_change,
    ) -> None:
        self._pool, self._settings, self._secret, self._on_change = pool, settings, secret, on_change
        # Reads may go to a replica; a viewer's own writes are recorded so their reads still see them.
        self._reads = reads

    async def movies_by_ids(self, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        """Movies in the order of `ids` (None where missing)."""
        async with self._reads.acquire() as conn:
            return await movies.load_movies_by_ids(conn, ids)

    async def users_by_ids(self, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        """Users in the order of `ids` (None where missing)."""
        async with self._reads.acquire() as conn:
            return await users.load_users_by_ids(conn, ids)

    async def ratings_by_users(self, ids: Sequence[int]) -> list[list[dict[str, Any]]]:
        """Each user's ratings, newest first."""
        async with self._reads.acquire() as conn:
            return await ratings.load_ratings_by_users(conn, ids)

    async def movie_id_by_tmdb_id(self, tmdb_id: int) -> int | None:
        """The catalogue id of a TMDB id, if the catalogue has it."""
        async with self._reads.acquire() as conn:
            return await movies.movie_id_by_tmdb_id(conn, tmdb_id)

    async def list_movies(self, movie_filter: MovieFilter, first: int, after: str | None) -> MoviePage:
        """A page of movies by title."""
        async with self._reads.acquire() as conn:
            return await movies.list_movies(conn, movie_filter, first, after)

    async def genres(self, limit: int) -> list[tuple[str, int]]:
        """Genres with their film counts, most common first."""
        async with self._reads.acquire() as conn:
            return await movies.genre_counts(conn, limit)

    async def upsert_movie(self, movie_id: int | None, changes: Mapping[str, Any]) -> int:
        """Create a movie or change its sent fields in one transaction; a content change queues its re-embedding."""
        async with self._pool.acquire() as conn, conn.transaction():
            saved_id, needs_embedding = await movies.upsert_movie(conn, movie_id, changes)
        if needs_embedding:
            await self._on_change()  # the outbox row is already committed
        return saved_id

    async def rate(self, user_id: int, movie_id: int, rating: float) -> dict[str, Any]:
        """Create or replace a rating (the rater's next reads see it, on a replica or the primary)."""
        async with self._pool.acquire() as conn:
            saved = await ratings.rate_movie(conn, user_id, movie_id, rating)
            await self._reads.record_write(conn, user_id)
            return saved

    async def remove_rating(self, user_id: int, movie_id: int) -> bool:
        """Delete a rating; False when there was none."""
        async with self._pool.acquire() as conn:
            removed = await ratings.remove_rating(conn, user_id, movie_id)
            await self._reads.record_write(conn, user_id)
            return removed

    async def demo_users(self) -> list[dict[str, Any]]:
        """The demo users (none when demo sign-in is off)."""
        async with self._reads.acquire() as conn:
            return await users.list_demo_users(conn, self._settings)

    async def sign_in_as_demo_user(self, user_id: int) -> DemoSession:
        """A day-long token for a demo user."""
        async with self._pool.acquire() as conn:
            return await users.sign_in_as_demo_user(conn, self._settings, self._secret, user_id)
