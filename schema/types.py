"""GraphQL object types for the catalogue: movies, users, ratings and pages of movies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry

from app.catalogue.movies import vote_figures
from app.errors import check_limit
from schema.context import Info


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
    vote_average: float | None = strawberry.field(
        description="0-10: the catalogue's figure, else the mean of movierec's ratings (see voteSource)."
    )
    vote_count: int | None
    vote_source: str | None = strawberry.field(
        description="Where voteAverage and voteCount come from: 'catalogue' (the importer's source) or 'ratings'."
    )
    poster_url: str | None
    has_overview: bool = strawberry.field(
        description="False for a thin record: only a title describes it, so semantic lists leave it out by default."
    )
    rating_count: int = strawberry.field(description="How many ratings movierec holds for this movie.")
    has_embedding: bool
    embedding_current: bool = strawberry.field(
        description="Its vector was made from its current text (false while an edit waits for the worker)."
    )
    embedded_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Movie:
        """Build from a movie row (app.catalogue.movies.MOVIE_COLUMNS)."""
        vote_average, vote_count, vote_source = vote_figures(row)
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
            vote_average=vote_average,
            vote_count=vote_count,
            vote_source=vote_source,
            poster_url=row["poster_url"],
            has_overview=row["has_overview"],
            rating_count=row["rating_count"],
            has_embedding=row["has_embedding"],
            embedding_current=row["embedding_current"],
            embedded_at=row["embedded_at"],
        )

    @strawberry.field(
        description="People who liked this also liked: the collaborative model's strongest neighbours "
        "(empty when no model covers the film). limit 1-20."
    )
    async def also_liked(self, info: Info, limit: int = 10) -> list[AlsoLiked]:
        check_limit(limit, maximum=20)
        found = await info.context.also_liked.load(int(self.id))
        return [AlsoLiked(movie=Movie.from_row(row), weight=weight) for row, weight in found[:limit]]


@strawberry.type(description="A film people who liked another film also liked, and the model's weight for it.")
class AlsoLiked:
    movie: Movie
    weight: float


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


@strawberry.type(description="Pagination facts for a movie list.")
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type(description="A page of movies.")
class MovieConnection:
    nodes: list[Movie]
    page_info: PageInfo
