"""GraphQL object types, built from the rows and dataclasses app/ returns."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry

from app.queue.client import QueuedJob
from app.recs import explain as explain_model
from app.recs.ranking import Candidate
from app.recs.recommender import Strategy
from app.status.stats import Stats as StatsModel
from schema.context import Info

RecommendationStrategy = strawberry.enum(Strategy, name="RecommendationStrategy", description="What produced a list.")


@strawberry.type(description="A movie in the catalogue.")
class Movie:
    id: strawberry.ID
    tmdb_id: int | None
    imdb_id: str | None
    title: str
    year: int | None
    overview: str
    genres: list[str]
    keywords: list[str]
    cast: list[str]
    director: str | None
    vote_average: float | None
    vote_count: int | None
    poster_url: str | None
    rating_count: int = strawberry.field(description="How many ratings movierec holds for this movie.")
    has_embedding: bool
    embedded_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Movie:
        """Build from a movie row (app.sql.movies.MOVIE_COLUMNS)."""
        return cls(
            id=strawberry.ID(str(row["id"])),
            tmdb_id=row["tmdb_id"],
            imdb_id=row["imdb_id"],
            title=row["title"],
            year=row["year"],
            overview=row["overview"],
            genres=row["genres"],
            keywords=row["keywords"],
            cast=row["cast_members"],
            director=row["director"],
            vote_average=row["vote_average"],
            vote_count=row["vote_count"],
            poster_url=row["poster_url"],
            rating_count=row["rating_count"],
            has_embedding=row["has_embedding"],
            embedded_at=row["embedded_at"],
        )


@strawberry.type(description="A recommended movie with its score and the parts of the score.")
class Recommendation:
    movie: Movie
    rank: int
    score: float = strawberry.field(description="What the list is sorted by (before diversity re-ranking).")
    similarity: float = strawberry.field(description="Cosine similarity to the query (0 on a cold start).")
    distance: float | None = strawberry.field(description="The index metric's distance; null on a cold start.")
    popularity: float = strawberry.field(description="Popularity prior in [0, 1) (personal lists only).")

    @classmethod
    def from_candidate(cls, c: Candidate) -> Recommendation:
        """Build from a ranked candidate."""
        return cls(
            movie=Movie.from_row(c.movie),
            rank=c.rank,
            score=c.score,
            similarity=c.similarity,
            distance=c.distance,
            popularity=c.popularity,
        )


@strawberry.type(description="A ranked list and the strategy that produced it.")
class RecommendationList:
    strategy: RecommendationStrategy  # type: ignore[valid-type]
    items: list[Recommendation]


@strawberry.type(description="Recommendations for one user in a batch.")
class UserRecommendations:
    user_id: strawberry.ID
    strategy: RecommendationStrategy  # type: ignore[valid-type]
    items: list[Recommendation]


@strawberry.type(description="A movie the user rated that resembles the explained movie.")
class FavoriteMatch:
    movie: Movie
    your_rating: float
    similarity: float


@strawberry.type(description="score = (1 - popularityWeight) * similarity + popularityWeight * popularity.")
class ScoreBreakdown:
    similarity: float = strawberry.field(description="Cosine similarity to the user's taste profile.")
    popularity: float
    popularity_weight: float
    score: float


@strawberry.type(description="Why a movie suits a user.")
class Explanation:
    movie: Movie
    score: float
    text: str
    similar_to_your_favorites: list[FavoriteMatch]
    breakdown: ScoreBreakdown

    @classmethod
    def from_model(cls, e: explain_model.Explanation) -> Explanation:
        """Build from app.recs.explain.Explanation."""
        return cls(
            movie=Movie.from_row(e.movie),
            score=e.score,
            text=e.text,
            similar_to_your_favorites=[
                FavoriteMatch(movie=Movie.from_row(m.movie), your_rating=m.rating, similarity=m.similarity)
                for m in e.matches
            ],
            breakdown=ScoreBreakdown(
                similarity=e.similarity, popularity=e.popularity, popularity_weight=e.popularity_weight, score=e.score
            ),
        )


@strawberry.type(description="A user's rating of a movie.")
class Rating:
    movie_id: strawberry.ID
    rating: float
    rated_at: datetime

    @strawberry.field(description="The rated movie (batched: one query for a whole list).")
    async def movie(self, info: Info) -> Movie | None:
        row = await info.context.movies.load(int(self.movie_id))
        return Movie.from_row(row) if row else None


@strawberry.type(description="A user of movierec.")
class User:
    id: strawberry.ID
    name: str

    @strawberry.field(description="The user's ratings, newest first.")
    async def ratings(self, info: Info) -> list[Rating]:
        rows = await info.context.ratings_by_user.load(int(self.id))
        return [
            Rating(movie_id=strawberry.ID(str(r["movie_id"])), rating=r["rating"], rated_at=r["rated_at"]) for r in rows
        ]


@strawberry.type(description="A build parameter of the vector index, e.g. m = 16.")
class IndexParameter:
    name: str
    value: str


@strawberry.type(description="The vector index on movies.embedding.")
class VectorIndex:
    method: str
    operator_class: str
    valid: bool
    size_bytes: int
    parameters: list[IndexParameter]


@strawberry.type(description="An embedding run's audit row.")
class EmbeddingRun:
    id: strawberry.ID
    status: str
    trigger: str
    full: bool
    started_at: datetime
    finished_at: datetime | None
    embedded: int
    skipped: int = strawberry.field(description="Movies whose embedding was already current.")
    failed: int
    error: str | None

    @classmethod
    def from_row(cls, run: dict[str, Any]) -> EmbeddingRun:
        """Build from an embedding_runs row."""
        return cls(
            id=strawberry.ID(str(run["id"])),
            status=run["status"],
            trigger=run["trigger"],
            full=run["full_run"],
            started_at=run["started_at"],
            finished_at=run["finished_at"],
            embedded=run["embedded"],
            skipped=run["skipped"],
            failed=run["failed"],
            error=run["error"],
        )


@strawberry.type(description="A queued embedding refresh: the queue's view and the run it produced.")
class RefreshJob:
    id: strawberry.ID
    status: str = strawberry.field(description="queued, deferred, in_progress, or not_found once finished.")
    run: EmbeddingRun | None = strawberry.field(description="The latest run started by this job id, if any.")

    @classmethod
    def from_job(cls, job: QueuedJob) -> RefreshJob:
        """The queue's status plus the job's latest embedding run."""
        return cls(id=strawberry.ID(job.id), status=job.status, run=EmbeddingRun.from_row(job.run) if job.run else None)


@strawberry.type(description="Catalogue coverage and index facts, as `movierec stats` prints them.")
class Stats:
    total_movies: int
    movies_with_embeddings: int
    current_embeddings: int
    coverage_percentage: float
    users: int
    ratings: int
    model: str
    dimension: int | None
    index: VectorIndex | None
    last_run: EmbeddingRun | None

    @classmethod
    def from_model(cls, s: StatsModel) -> Stats:
        """Build from app.status.stats.Stats."""
        index = s.index
        run = s.last_run
        return cls(
            total_movies=s.total_movies,
            movies_with_embeddings=s.with_embeddings,
            current_embeddings=s.current_embeddings,
            coverage_percentage=round(s.coverage, 2),
            users=s.users,
            ratings=s.ratings,
            model=s.model,
            dimension=s.dimension,
            index=VectorIndex(
                method=index.method,
                operator_class=index.opclass,
                valid=index.valid,
                size_bytes=index.size_bytes,
                parameters=[IndexParameter(name=k, value=v) for k, v in sorted(index.options.items())],
            )
            if index
            else None,
            last_run=EmbeddingRun.from_row(run) if run else None,
        )


@strawberry.type(description="Pagination facts for a movie list.")
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type(description="A page of movies.")
class MovieConnection:
    nodes: list[Movie]
    page_info: PageInfo
