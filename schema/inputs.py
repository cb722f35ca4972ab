"""GraphQL inputs and enums, and their conversion into app/ values."""

from __future__ import annotations

from typing import Any

import strawberry

from app.catalogue.importers.records import MovieRecord
from app.catalogue.movies import movie_record
from app.errors import BadUserInput
from app.recs.ranking import ExampleStrategy as ExampleStrategyModel
from app.search.filters import MovieFilter as MovieFilterModel
from schema.arguments import parse_id

ExampleStrategy = strawberry.enum(
    ExampleStrategyModel,
    name="ExampleStrategy",
    description="AVERAGE_VECTOR: one query from the averaged examples; BEST_SCORE: the best liked similarity "
    "unless a disliked example is closer; SUM_SCORES: liked similarities minus disliked ones.",
)


@strawberry.input(description="Narrow a list: genres (any of), a year range, a minimum vote average, ids to leave out.")
class MovieFilter:
    genres: list[str] | None = None
    year_from: int | None = None
    year_to: int | None = None
    min_vote_average: float | None = None
    exclude_ids: list[strawberry.ID] | None = None

    def to_model(self) -> MovieFilterModel:
        """Validate and convert."""
        if self.year_from is not None and self.year_to is not None and self.year_from > self.year_to:
            raise BadUserInput("yearFrom is after yearTo")
        if self.min_vote_average is not None and not 0 <= self.min_vote_average <= 10:
            raise BadUserInput("minVoteAverage must be between 0 and 10")
        genres = tuple(g.strip() for g in self.genres or [] if g.strip())
        return MovieFilterModel(
            genres=genres or None,
            year_min=self.year_from,
            year_max=self.year_to,
            min_vote_average=self.min_vote_average,
            exclude_ids=tuple(parse_id(i, "excludeIds") for i in self.exclude_ids or []),
        )


def to_filter(value: MovieFilter | None) -> MovieFilterModel:
    """An optional filter input as the app's filter."""
    return value.to_model() if value is not None else MovieFilterModel()


@strawberry.input(description="A movie to create or change (admin). Content changes trigger re-embedding.")
class MovieInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Update this movie; omit to create.")
    tmdb_id: int | None = None
    imdb_id: str | None = None
    title: str = ""
    year: int | None = None
    overview: str = ""
    genres: list[str] = strawberry.field(default_factory=list)
    keywords: list[str] = strawberry.field(default_factory=list)
    director: str | None = None
    cast: list[str] = strawberry.field(default_factory=list)
    vote_average: float | None = None
    vote_count: int | None = None
    poster_url: str | None = None

    def to_record(self) -> MovieRecord:
        """Validate as a movie record."""
        fields: dict[str, Any] = {
            "tmdb_id": self.tmdb_id,
            "imdb_id": self.imdb_id,
            "title": self.title,
            "year": self.year,
            "overview": self.overview,
            "genres": tuple(self.genres),
            "keywords": tuple(self.keywords),
            "director": self.director,
            "cast": tuple(self.cast),
            "vote_average": self.vote_average,
            "vote_count": self.vote_count,
            "poster_url": self.poster_url,
        }
        return movie_record(fields)
