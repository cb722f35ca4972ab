"""The k-NN statements: by a query vector or a film's own, with MovieFilter, exclusions, viewer and limit.

PostgreSQL plans a prepared statement afresh on every call while its parameters' values change the
plan's cost (a filter's values, a LIMIT parameter). Planning similarMovies' statement cost 0.8 ms of
2.8 ms (p50 on the Wikipedia catalogue). A list with no filter beyond "described films only" therefore
runs the plain form: the query, the exclusions and the viewer are its only parameters and its LIMIT is
a tier written into the text, so after five calls PostgreSQL keeps one generic plan per connection
(1.97 ms, the same films). Filtered lists keep the parameterised form, whose custom plans fold the
filter's values (a generic plan of it took 64 ms instead of 1 ms under a selective filter).
"""

from __future__ import annotations

import functools

from app.catalogue.movies import MOVIE_COLUMNS
from app.search.filters import MovieFilter
from app.search.index import DESCRIBED_ONLY
from app.settings import Metric

DISTANCE_OPERATORS: dict[Metric, str] = {"cosine": "<=>", "l2": "<->", "inner_product": "<#>"}

# The query vector: a parameter, or a movie's own vector kept inside SQL (an InitPlan, so the
# index still applies).
VECTOR_PARAM = "$1::vector"
MOVIE_VECTOR = "(SELECT e.embedding FROM movies e WHERE e.id = $1::bigint)"
_AFTER_FILTER = 2 + MovieFilter.PARAMETERS  # nearest(): $1 query, $2.. filter, then exclusions, viewer, limit


def nearest_sql(metric: Metric, query_vector: str, *, exact: bool = False, described_only: bool = False) -> str:
    """k-nearest movies to a query vector ($1) with MovieFilter ($2..), exclusions, viewer and limit after it.

    The indexed form orders by the distance operator itself so pgvector's index serves it; the
    exact form orders by an expression of it, which no index matches: a full, exact scan.
    `described_only` says in the statement's text what the filter's exclude_thin says in a parameter,
    so that every plan, generic ones too, may use the partial index over described films.
    """
    distance = f"m.embedding {DISTANCE_OPERATORS[metric]} {query_vector}"
    order = f"({distance}) + 0" if exact else distance
    exclude, viewer, limit = (f"${_AFTER_FILTER + i}" for i in range(3))
    described = f" AND m.{DESCRIBED_ONLY}" if described_only else ""
    return f"""
SELECT {MOVIE_COLUMNS}, m.embedding, {distance} AS distance
FROM movies m
WHERE m.embedding IS NOT NULL AND {query_vector} IS NOT NULL AND {MovieFilter.clause(2)}{described}
  AND NOT (m.id = ANY({exclude}::bigint[]))
  AND ({viewer}::bigint IS NULL
       OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = {viewer} AND x.movie_id = m.id))
ORDER BY {order}
LIMIT {limit}
"""


def nearest_many_sql(metric: Metric) -> str:
    """k-nearest movies for each ($1 key, $2 vector) pair, with MovieFilter ($3..), exclusions, per-key viewer."""
    distance = f"m.embedding {DISTANCE_OPERATORS[metric]} q.vector"
    exclude, unseen_by_key, limit = (f"${3 + MovieFilter.PARAMETERS + i}" for i in range(3))
    return f"""
SELECT q.key, c.*
FROM unnest($1::bigint[], $2::vector[]) AS q(key, vector)
CROSS JOIN LATERAL (
    SELECT {MOVIE_COLUMNS}, m.embedding, {distance} AS distance
    FROM movies m
    WHERE m.embedding IS NOT NULL AND {MovieFilter.clause(3)}
      AND NOT (m.id = ANY({exclude}::bigint[]))
      AND ({unseen_by_key}::boolean IS NOT TRUE
           OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = q.key AND x.movie_id = m.id))
    ORDER BY {distance}
    LIMIT {limit}
) AS c
"""


NEAREST = {
    (metric, vector, exact, described): nearest_sql(metric, vector, exact=exact, described_only=described)
    for metric in DISTANCE_OPERATORS
    for vector in (VECTOR_PARAM, MOVIE_VECTOR)
    for exact in (False, True)
    for described in (False, True)
}
NEAREST_MANY = {metric: nearest_many_sql(metric) for metric in DISTANCE_OPERATORS}


# The plain form's LIMITs: a list's depth is rounded up to one (rows past the depth are dropped), so
# a connection prepares a handful of texts. They are the depths of pages of 10 and 20 (one row more)
# and the candidate pools of those pages (pool_size), so the common lists fetch nothing extra.
LIMIT_TIERS = (11, 21, 55, 105, 255, 505)


def plain_limit(limit: int) -> int | None:
    """The tier a plain statement fetches for `limit` rows; None past the largest (the parameterised form)."""
    return next((tier for tier in LIMIT_TIERS if limit <= tier), None)


@functools.cache
def plain_nearest_sql(metric: Metric, query_vector: str, described_only: bool, viewer: bool, limit: int) -> str:
    """k-nearest movies to $1 with no filter values: exclusions $2, the viewer $3 if `viewer`, LIMIT written in."""
    distance = f"m.embedding {DISTANCE_OPERATORS[metric]} {query_vector}"
    described = f" AND m.{DESCRIBED_ONLY}" if described_only else ""
    unseen = " AND NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = $3::bigint AND x.movie_id = m.id)"
    return f"""
SELECT {MOVIE_COLUMNS}, m.embedding, {distance} AS distance
FROM movies m
WHERE m.embedding IS NOT NULL AND {query_vector} IS NOT NULL{described}
  AND NOT (m.id = ANY($2::bigint[])){unseen if viewer else ""}
ORDER BY {distance}
LIMIT {int(limit)}
"""
