"""The cold-start list: films many people rated well, whatever their vectors, for users with no taste yet."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from app.catalogue.movies import MOVIE_COLUMNS
from app.recs.ranking import Candidate
from app.search.filters import NO_FILTER, MovieFilter
from app.search.vectors import embedding_column, to_candidate
from app.settings import Metric

# Cold start: movies many people rated well (count x mean = the sum of their ratings), the catalogue's
# own votes breaking ties; the same filter ($1..), then exclusions, viewer and limit. The score covers
# every film, so the ranking reads them all: narrow rows (id and score) are ranked first and only the
# page's films are read whole (24 against 41 ms p50 on the Wikipedia catalogue, the same films).
_P = 1 + MovieFilter.PARAMETERS


def popular_movies_sql(vectors: bool) -> str:
    """The cold-start statement, with the films' vectors or without them (only diversity compares them)."""
    return f"""
WITH top AS (
    SELECT m.id, coalesce(p.rating_sum, 0) + coalesce(m.vote_count, 0) * coalesce(m.vote_average, 0) / 100.0 AS score
    FROM movies m LEFT JOIN movie_rating_stats p ON p.movie_id = m.id
    WHERE m.embedding IS NOT NULL AND {MovieFilter.clause(1)}
      AND NOT (m.id = ANY(${_P}::bigint[]))
      AND (${_P + 1}::bigint IS NULL
           OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = ${_P + 1} AND x.movie_id = m.id))
    ORDER BY score DESC, m.id
    LIMIT ${_P + 2}
)
SELECT {MOVIE_COLUMNS}, {embedding_column(vectors)}, NULL::float8 AS distance
FROM top JOIN movies m ON m.id = top.id
ORDER BY top.score DESC, m.id
"""


POPULAR_MOVIES = {vectors: popular_movies_sql(vectors) for vectors in (False, True)}


async def popular_movies(
    conn: asyncpg.Connection,
    metric: Metric,
    *,
    movie_filter: MovieFilter = NO_FILTER,
    exclude: Sequence[int] = (),
    unseen_by: int | None = None,
    limit: int,
    film_vectors: bool = True,
) -> list[Candidate]:
    """Popular, well-rated movies: the cold-start list (with `film_vectors`, their vectors, for diversity)."""
    rows = await conn.fetch(POPULAR_MOVIES[film_vectors], *movie_filter.params(), list(exclude), unseen_by, limit)
    return [to_candidate(row, metric) for row in rows]
