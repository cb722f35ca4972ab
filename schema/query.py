"""Query: thin resolvers; permissions in permission classes, arguments converted, then one service call."""

from __future__ import annotations

import strawberry

from app.errors import BadUserInput
from schema.arguments import job_id, parse_id
from schema.context import Info
from schema.demo import DemoUser
from schema.inputs import ExampleStrategy, MovieFilter, to_filter
from schema.operations import EmbeddingRun, RecommenderModel, RefreshJob, Stats, TrainingJob
from schema.permissions import CanActForUser, IsAdmin, IsAuthenticated, SignedInToExcludeSeen
from schema.recommendations import Explanation, RecommendationList, UserRecommendations, items_of
from schema.types import Movie, MovieConnection, PageInfo, User

as_list = RecommendationList.of


@strawberry.type
class Query:
    @strawberry.field(description="One movie by id or by TMDB id (null when there is none).")
    async def movie(self, info: Info, id: strawberry.ID | None = None, tmdb_id: int | None = None) -> Movie | None:
        if (id is None) == (tmdb_id is None):
            raise BadUserInput("give exactly one of id and tmdbId")
        catalogue = info.context.services.catalogue
        movie_id = parse_id(id) if id is not None else await catalogue.movie_id_by_tmdb_id(tmdb_id)  # type: ignore[arg-type]
        row = await info.context.movies.load(movie_id) if movie_id else None
        return Movie.from_row(row) if row else None

    @strawberry.field(description="Movies by title (case-insensitive substring), alphabetical, cursor-paginated.")
    async def movies(
        self,
        info: Info,
        search: str | None = None,
        filter: MovieFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> MovieConnection:
        page = await info.context.services.catalogue.list_movies(search, to_filter(filter), first, after)
        return MovieConnection(
            nodes=[Movie.from_row(m) for m in page.movies],
            page_info=PageInfo(end_cursor=page.end_cursor, has_next_page=page.has_next_page),
        )

    @strawberry.field(
        description="Movies most similar to one movie. excludeSeen drops the viewer's rated movies.",
        permission_classes=[SignedInToExcludeSeen],
    )
    async def similar_movies(
        self,
        info: Info,
        movie_id: strawberry.ID,
        limit: int = 10,
        diversity: float = 0.0,
        filter: MovieFilter | None = None,
        exclude_seen: bool = False,
    ) -> RecommendationList:
        ranked = await info.context.services.recommender.similar_movies(
            parse_id(movie_id, "movieId"),
            limit,
            diversity=diversity,
            movie_filter=to_filter(filter),
            unseen_by=info.context.viewer_id if exclude_seen else None,
        )
        return as_list(ranked)

    @strawberry.field(
        description="Personal recommendations from the viewer's ratings (userId: admin only).",
        permission_classes=[CanActForUser],
    )
    async def recommendations(
        self,
        info: Info,
        limit: int = 10,
        diversity: float = 0.0,
        filter: MovieFilter | None = None,
        user_id: strawberry.ID | None = None,
    ) -> RecommendationList:
        ranked = await info.context.services.recommender.for_user(
            info.context.acting_user_id(user_id), limit, diversity=diversity, movie_filter=to_filter(filter)
        )
        return as_list(ranked)

    @strawberry.field(description="Recommendations from liked (positive) and disliked (negative) movies.")
    async def recommendations_for_movies(
        self,
        info: Info,
        positive: list[strawberry.ID],
        negative: list[strawberry.ID] | None = None,
        strategy: ExampleStrategy = ExampleStrategy.AVERAGE_VECTOR,  # type: ignore[valid-type]
        limit: int = 10,
        diversity: float = 0.0,
        filter: MovieFilter | None = None,
    ) -> RecommendationList:
        ranked = await info.context.services.recommender.for_examples(
            [parse_id(i, "positive") for i in positive],
            [parse_id(i, "negative") for i in negative or []],
            strategy,
            limit,
            diversity=diversity,
            movie_filter=to_filter(filter),
        )
        return as_list(ranked)

    @strawberry.field(
        description="Why a movie suits the viewer (userId: admin only).", permission_classes=[CanActForUser]
    )
    async def explain_recommendation(
        self, info: Info, movie_id: strawberry.ID, user_id: strawberry.ID | None = None
    ) -> Explanation:
        explanation = await info.context.services.recommender.explain(
            info.context.acting_user_id(user_id), parse_id(movie_id, "movieId")
        )
        return Explanation.from_model(explanation)

    @strawberry.field(description="Semantic search: movies whose meaning is closest to the text.")
    async def search_movies(
        self, info: Info, query: str, limit: int = 10, filter: MovieFilter | None = None
    ) -> RecommendationList:
        return as_list(
            await info.context.services.recommender.search_text(query, limit, movie_filter=to_filter(filter))
        )

    @strawberry.field(
        description="Recommendations for many users in one round of queries.", permission_classes=[IsAdmin]
    )
    async def recommendations_for_users(
        self, info: Info, user_ids: list[strawberry.ID], limit: int = 10
    ) -> list[UserRecommendations]:
        ids = [parse_id(i, "userIds") for i in user_ids]
        ranked = await info.context.services.recommender.for_users(ids, limit)
        return [
            UserRecommendations(user_id=strawberry.ID(str(u)), strategy=ranked[u].strategy, items=items_of(ranked[u]))
            for u in dict.fromkeys(ids)
        ]

    @strawberry.field(description="Coverage, model and index facts, and the last embedding run.")
    async def stats(self, info: Info) -> Stats:
        return Stats.from_model(await info.context.services.status.stats())

    @strawberry.field(description="The state of a refresh job (admin).", permission_classes=[IsAdmin])
    async def refresh_job(self, info: Info, id: strawberry.ID) -> RefreshJob:
        return RefreshJob.from_job(await info.context.services.jobs.job_status(job_id(id)))

    @strawberry.field(description="The most recent embedding runs, newest first.")
    async def embedding_runs(self, info: Info, limit: int = 10) -> list[EmbeddingRun]:
        return [EmbeddingRun.from_row(row) for row in await info.context.services.jobs.recent_runs(limit)]

    @strawberry.field(
        description="The newest trainings of the collaborative model (admin).", permission_classes=[IsAdmin]
    )
    async def recommender_models(self, info: Info, limit: int = 10) -> list[RecommenderModel]:
        return [RecommenderModel.from_row(row) for row in await info.context.services.models.recent(limit)]

    @strawberry.field(description="The state of a training job (admin).", permission_classes=[IsAdmin])
    async def training_job(self, info: Info, id: strawberry.ID) -> TrainingJob:
        return TrainingJob.from_job(await info.context.services.jobs.job_status(job_id(id)))

    @strawberry.field(description="The signed-in user.", permission_classes=[IsAuthenticated])
    async def viewer(self, info: Info) -> User | None:
        row = await info.context.users.load(info.context.viewer_id)
        return User(id=strawberry.ID(str(row["id"])), name=row["name"]) if row else None

    @strawberry.field(description="Demo users anyone may sign in as (empty when demo sign-in is off).")
    async def demo_users(self, info: Info) -> list[DemoUser]:
        return [DemoUser.from_row(row) for row in await info.context.services.catalogue.demo_users()]
