"""Query: thin resolvers; permissions in permission classes, arguments converted, then one service call."""

from __future__ import annotations

from dataclasses import replace

import strawberry

from app.errors import BadUserInput, check_limit
from app.search.fusion import SearchMode as SearchModeModel
from app.search.service import MAX_TITLE_LOOKUP, offset_cursor, offset_from_cursor
from schema.arguments import job_id, parse_id
from schema.context import Info
from schema.demo import DemoUser
from schema.inputs import ExampleStrategy, MovieFilter, to_filter
from schema.operations import EmbeddingRun, HealthCheck, RecommenderModel, RefreshJob, Stats, TrainingJob
from schema.permissions import CanActForUser, IsAdmin, IsAuthenticated, SignedInToExcludeSeen
from schema.recommendations import Explanation, RecommendationList, UserRecommendations, items_of
from schema.search import Genre, SearchMode, SearchResults
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

    @strawberry.field(
        description="Movies by title, alphabetical; with `search`, title lookup that survives typos "
        "(title trigrams and words, best match first). Cursor-paginated."
    )
    async def movies(
        self,
        info: Info,
        search: str | None = None,
        filter: MovieFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> MovieConnection:
        services = info.context.services
        if search is not None and len(search) > MAX_TITLE_LOOKUP:
            raise BadUserInput(f"search is longer than {MAX_TITLE_LOOKUP} characters")
        if search is None or not search.strip():
            page = await services.catalogue.list_movies(to_filter(filter), first, after)
            return MovieConnection(
                nodes=[Movie.from_row(m) for m in page.movies],
                page_info=PageInfo(end_cursor=page.end_cursor, has_next_page=page.has_next_page),
            )
        offset = offset_from_cursor(after)
        found = await services.search.search(
            search, mode=SearchModeModel.KEYWORD, limit=first, offset=offset, movie_filter=to_filter(filter)
        )
        nodes = [Movie.from_row(r.movie) for r in found.results]
        return MovieConnection(
            nodes=nodes,
            page_info=PageInfo(
                end_cursor=offset_cursor(offset + len(nodes)) if nodes else None, has_next_page=found.has_more
            ),
        )

    @strawberry.field(description="The catalogue's genres with film counts, most common first (limit 1-100).")
    async def genres(self, info: Info, limit: int = 50) -> list[Genre]:
        check_limit(limit)
        return [Genre(name=name, movies=count) for name, count in await info.context.services.catalogue.genres(limit)]

    @strawberry.field(
        description="Movies most similar to one movie. excludeSeen drops the viewer's rated movies; thin records "
        "(only a title) only with includeThin. Pages: limit 1-100, offset 0-400.",
        permission_classes=[SignedInToExcludeSeen],
    )
    async def similar_movies(
        self,
        info: Info,
        movie_id: strawberry.ID,
        limit: int = 10,
        offset: int = 0,
        diversity: float = 0.0,
        filter: MovieFilter | None = None,
        exclude_seen: bool = False,
        include_thin: bool = False,
    ) -> RecommendationList:
        ranked = await info.context.services.recommender.similar_movies(
            parse_id(movie_id, "movieId"),
            limit,
            offset=offset,
            diversity=diversity,
            movie_filter=replace(to_filter(filter), exclude_thin=not include_thin),
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
        offset: int = 0,
        diversity: float = 0.0,
        filter: MovieFilter | None = None,
        user_id: strawberry.ID | None = None,
    ) -> RecommendationList:
        ranked = await info.context.services.recommender.for_user(
            info.context.acting_user_id(user_id),
            limit,
            offset=offset,
            diversity=diversity,
            movie_filter=to_filter(filter),
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
        offset: int = 0,
        diversity: float = 0.0,
        filter: MovieFilter | None = None,
    ) -> RecommendationList:
        ranked = await info.context.services.recommender.for_examples(
            [parse_id(i, "positive") for i in positive],
            [parse_id(i, "negative") for i in negative or []],
            strategy,
            limit,
            offset=offset,
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

    @strawberry.field(
        description="Find films by title (typos too), director or cast names, words and meaning, fused "
        "(mode HYBRID); KEYWORD or SEMANTIC run one side. Thin records (title only) join meaning's results "
        "only with includeThin. Pages: limit 1-100, offset 0-400."
    )
    async def search_movies(
        self,
        info: Info,
        query: str,
        mode: SearchMode = SearchModeModel.HYBRID,  # type: ignore[valid-type]
        limit: int = 10,
        offset: int = 0,
        filter: MovieFilter | None = None,
        include_thin: bool = False,
    ) -> SearchResults:
        page = await info.context.services.search.search(
            query, mode=mode, limit=limit, offset=offset, movie_filter=to_filter(filter), include_thin=include_thin
        )
        return SearchResults.of(page, offset)

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

    @strawberry.field(
        description="Every `movierec doctor` check, then Redis and the worker's heartbeat (admin).",
        permission_classes=[IsAdmin],
    )
    async def health(self, info: Info) -> list[HealthCheck]:
        checks = [*await info.context.services.status.checks(), *await info.context.services.jobs.health()]
        return [HealthCheck.from_check(c) for c in checks]

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
