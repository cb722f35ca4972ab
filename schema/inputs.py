"""GraphQL inputs and enums, and their conversion into app/ values."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry import UNSET

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


MAX_FILTER_GENRES = 20
MAX_EXCLUDE_IDS = 500


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
        for name, year in (("yearFrom", self.year_from), ("yearTo", self.year_to)):
            if year is not None and not 1800 <= year <= 2200:
                raise BadUserInput(f"{name} must be a year between 1800 and 2200")
        if len(self.genres or []) > MAX_FILTER_GENRES or any(len(g) > 60 for g in self.genres or []):
            raise BadUserInput(f"genres takes at most {MAX_FILTER_GENRES} names of at most 60 characters")
        if len(self.exclude_ids or []) > MAX_EXCLUDE_IDS:
            raise BadUserInput(f"excludeIds takes at most {MAX_EXCLUDE_IDS} ids")
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


@strawberry.input(
    description="A movie to create or change (admin). Creating needs a title. When updating (id, or a tmdbId the "
    'catalogue has), fields left out keep their values; null clears a nullable field, [] or "" clears a list '
    "or the overview. Content changes trigger re-embedding."
)
class MovieInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Update this movie; omit to create.")
    tmdb_id: int | None = UNSET
    imdb_id: str | None = UNSET
    title: str | None = UNSET
    year: int | None = UNSET
    overview: str | None = UNSET
    genres: list[str] | None = UNSET
    keywords: list[str] | None = UNSET
    director: str | None = UNSET
    cast: list[str] | None = UNSET
    vote_average: float | None = UNSET
    vote_count: int | None = UNSET
    poster_url: str | None = UNSET

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent, as MovieRecord fields (lists as tuples, null lists and text as empty)."""
        sent: dict[str, Any] = {}
        for name in MOVIE_FIELDS:
            value = getattr(self, name)
            if value is UNSET:
                continue
            if name in ("genres", "keywords", "cast"):
                value = tuple(value or ())
            elif name == "overview":
                value = value or ""
            sent[name] = value
        return sent


MOVIE_FIELDS = (
    "tmdb_id",
    "imdb_id",
    "title",
    "year",
    "overview",
    "genres",
    "keywords",
    "director",
    "cast",
    "vote_average",
    "vote_count",
    "poster_url",
)
