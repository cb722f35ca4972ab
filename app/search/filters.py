"""MovieFilter: what a list may contain, and its SQL clause with the parameters in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MovieFilter:
    """Genres (any of), a year range, a minimum vote average and ids to leave out."""

    genres: tuple[str, ...] | None = None
    year_min: int | None = None
    year_max: int | None = None
    min_vote_average: float | None = None
    exclude_ids: tuple[int, ...] = ()

    # How many parameters `clause` uses; `params` returns them in the same order.
    PARAMETERS = 5

    @property
    def active(self) -> bool:
        """True when the filter removes anything."""
        return any(v is not None for v in (self.genres, self.year_min, self.year_max, self.min_vote_average)) or bool(
            self.exclude_ids
        )

    @staticmethod
    def clause(first: int) -> str:
        """The filter over `m` (movies) as SQL, reading parameters $first .. $first + 4."""
        g, y0, y1, v, ex = (f"${first + i}" for i in range(MovieFilter.PARAMETERS))
        return (
            f"({g}::text[] IS NULL OR m.genres && {g}::text[]) AND ({y0}::int IS NULL OR m.year >= {y0}::int) "
            f"AND ({y1}::int IS NULL OR m.year <= {y1}::int) AND ({v}::real IS NULL OR m.vote_average >= {v}::real) "
            f"AND NOT (m.id = ANY(coalesce({ex}::bigint[], '{{}}')))"
        )

    def params(self) -> list[Any]:
        """The values `clause` reads, in its order."""
        return [
            list(self.genres) if self.genres else None,
            self.year_min,
            self.year_max,
            self.min_vote_average,
            list(self.exclude_ids) or None,
        ]


NO_FILTER = MovieFilter()
