"""Mutation: ratings for the viewer; the admin's movie upsert and embedding refresh."""

from __future__ import annotations

import contextlib

import strawberry

from app.catalogue import upsert_movie
from app.demo_sign_in import sign_in_as_demo_user
from app.ratings import rate_movie, remove_rating
from schema.context import Info
from schema.demo import Session
from schema.inputs import MovieInput
from schema.permissions import IsAdmin
from schema.types import Movie, Rating, RefreshJob, parse_id


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Rate a movie 0.5-5.0 in half steps (replaces an earlier rating).")
    async def rate_movie(self, info: Info, movie_id: strawberry.ID, rating: float) -> Rating:
        user = info.context.require_viewer().user_id
        async with info.context.services.pool.acquire() as conn:
            row = await rate_movie(conn, user, parse_id(movie_id, "movieId"), rating)
        return Rating(movie_id=strawberry.ID(str(row["movie_id"])), rating=row["rating"], rated_at=row["rated_at"])

    @strawberry.mutation(description="Remove the viewer's rating of a movie; false when there was none.")
    async def remove_rating(self, info: Info, movie_id: strawberry.ID) -> bool:
        user = info.context.require_viewer().user_id
        async with info.context.services.pool.acquire() as conn:
            return await remove_rating(conn, user, parse_id(movie_id, "movieId"))

    @strawberry.mutation(
        description="Create or update a movie (admin). Content changes mark it for re-embedding.",
        permission_classes=[IsAdmin],
    )
    async def upsert_movie(self, info: Info, input: MovieInput) -> Movie:
        record = input.to_record()
        movie_id = parse_id(input.id) if input.id is not None else None
        services = info.context.services
        async with services.pool.acquire() as conn, conn.transaction():
            saved_id, needs_embedding = await upsert_movie(conn, movie_id, record)
        if needs_embedding:
            await services.queue.nudge_outbox()  # best effort: the outbox row is already committed
        with contextlib.suppress(KeyError):  # Strawberry's clear() raises for keys never loaded
            info.context.movies.clear(saved_id)
        row = await info.context.movies.load(saved_id)
        assert row is not None
        return Movie.from_row(row)

    @strawberry.mutation(
        description="Queue an embedding refresh (admin); while one is queued or running, that one is returned.",
        permission_classes=[IsAdmin],
    )
    async def refresh_embeddings(self, info: Info, full: bool = False) -> RefreshJob:
        services = info.context.services
        return await RefreshJob.load(services, await services.queue.enqueue_refresh(full=full))

    @strawberry.mutation(description="A day-long token for a demo user (when demo sign-in is on).")
    async def sign_in_as_demo_user(self, info: Info, user_id: strawberry.ID) -> Session:
        services = info.context.services
        async with services.pool.acquire() as conn:
            session = await sign_in_as_demo_user(
                conn, services.settings, services.jwt_secret, parse_id(user_id, "userId")
            )
        return Session.from_model(session)
