"""Mutation: ratings for the viewer; the admin's movie upsert and embedding refresh; demo sign-in."""

from __future__ import annotations

import contextlib

import strawberry

from schema.arguments import parse_id
from schema.context import Info
from schema.demo import Session
from schema.inputs import MovieInput
from schema.operations import RecommenderModel, RefreshJob, TrainingJob
from schema.permissions import IsAdmin, IsAuthenticated
from schema.types import Movie, Rating


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Rate a movie 0.5-5.0 in half steps (replaces an earlier rating).",
        permission_classes=[IsAuthenticated],
    )
    async def rate_movie(self, info: Info, movie_id: strawberry.ID, rating: float) -> Rating:
        catalogue = info.context.services.catalogue
        row = await catalogue.rate(info.context.viewer_id, parse_id(movie_id, "movieId"), rating)
        return Rating(movie_id=strawberry.ID(str(row["movie_id"])), rating=row["rating"], rated_at=row["rated_at"])

    @strawberry.mutation(
        description="Remove the viewer's rating of a movie; false when there was none.",
        permission_classes=[IsAuthenticated],
    )
    async def remove_rating(self, info: Info, movie_id: strawberry.ID) -> bool:
        return await info.context.services.catalogue.remove_rating(
            info.context.viewer_id, parse_id(movie_id, "movieId")
        )

    @strawberry.mutation(
        description="Create or update a movie (admin). Content changes mark it for re-embedding.",
        permission_classes=[IsAdmin],
    )
    async def upsert_movie(self, info: Info, input: MovieInput) -> Movie:
        movie_id = parse_id(input.id) if input.id is not None else None
        saved_id = await info.context.services.catalogue.upsert_movie(movie_id, input.changes())
        with contextlib.suppress(KeyError):  # Strawberry's clear() raises for keys never loaded
            info.context.movies.clear(saved_id)
        row = await info.context.movies.load(saved_id)
        assert row is not None
        return Movie.from_row(row)

    @strawberry.mutation(
        description="Queue a rebuild of the vector index (admin): built beside the old one, swapped in once valid. "
        "Follow it with refreshJob(id).",
        permission_classes=[IsAdmin],
    )
    async def rebuild_vector_index(self, info: Info) -> RefreshJob:
        return RefreshJob.from_job(await info.context.services.jobs.enqueue_index_rebuild())

    @strawberry.mutation(
        description="Queue an embedding refresh (admin); while one is queued or running, that one is returned.",
        permission_classes=[IsAdmin],
    )
    async def refresh_embeddings(self, info: Info, full: bool = False) -> RefreshJob:
        return RefreshJob.from_job(await info.context.services.jobs.enqueue_refresh(full=full))

    @strawberry.mutation(
        description="Queue a training of the collaborative model (admin); while one is queued or running, that one "
        "is returned. The new model serves once trained; the previous one is kept for rollback.",
        permission_classes=[IsAdmin],
    )
    async def train_recommender(self, info: Info) -> TrainingJob:
        return TrainingJob.from_job(await info.context.services.jobs.enqueue_training())

    @strawberry.mutation(
        description="Serve the previous collaborative model again (admin); the current one becomes the previous.",
        permission_classes=[IsAdmin],
    )
    async def rollback_recommender(self, info: Info) -> RecommenderModel:
        return RecommenderModel.from_row(await info.context.services.models.roll_back())

    @strawberry.mutation(description="A day-long token for a demo user (when demo sign-in is on).")
    async def sign_in_as_demo_user(self, info: Info, user_id: strawberry.ID) -> Session:
        session = await info.context.services.catalogue.sign_in_as_demo_user(parse_id(user_id, "userId"))
        return Session.from_model(session)
