"""MovieFilter: what a list may contain, and its SQL clause with the parameters in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The catalogue's vote average, else the mean of movierec's ratings (0-10): what a Movie shows.
RATED_AVERAGE = "(SELECT rs.rating_sum * 2 / nullif(rs.ratings, 0) FROM movie_rating_stats rs WHERE rs.movie_id = m.id)"


@dataclass(frozen=True)
class MovieFilter:
    """Genres (any of, any letter case), a year range, a minimum vote average and ids to leave out."""

    genres: tuple[str, ...] | None = None
    year_min: int | None = None
    year_max: int | None = None
    min_vote_average: float | None = None
    exclude_ids: tuple[int, ...] = ()
    # Leave out thin records (only a title describes them): semantic lists do by default.
    exclude_thin: bool = False

    # How many parameters `clause` uses; `params` returns them in the same order.
    PARAMETERS = 6

    @property
    def active(self) -> bool:
        """True when the filter removes anything."""
        return self.exclude_thin or not self.narrows_only_to_described

    @property
    def narrows_only_to_described(self) -> bool:
        """True when the filter at most leaves thin records out: no values that would change a plan."""
        values = (self.genres, self.year_min, self.year_max, self.min_vote_average)
        return all(v is None for v in values) and not self.exclude_ids

    @staticmethod
    def clause(first: int) -> str:
        """The filter over `m` (movies) as SQL, reading parameters $first .. $first + PARAMETERS - 1."""
        g, y0, y1, v, ex, thin = (f"${first + i}" for i in range(MovieFilter.PARAMETERS))
        return (
            f"({g}::text[] IS NULL OR m.genre_keys && movierec_fold_all({g}::text[])) "
            f"AND ({y0}::int IS NULL OR m.year >= {y0}::int) AND ({y1}::int IS NULL OR m.year <= {y1}::int) "
            f"AND ({v}::real IS NULL OR coalesce(m.vote_average, {RATED_AVERAGE}) >= {v}::real) "
            f"AND NOT (m.id = ANY(coalesce({ex}::bigint[], '{{}}'))) "
            f"AND ({thin}::boolean IS NOT TRUE OR m.has_overview)"
        )

    def params(self) -> list[Any]:
        """The values `clause` reads, in its order."""
        return [
            list(self.genres) if self.genres else None,
            self.year_min,
            self.year_max,
            self.min_vote_average,
            list(self.exclude_ids) or None,
            self.exclude_thin,
        ]


NO_FILTER = MovieFilter()
