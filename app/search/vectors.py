"""Nearest-neighbour queries with pgvector: per-query search settings, filters that keep recall.

PostgreSQL plans a prepared statement afresh on every call while its parameters' values change the
plan's cost (a filter's values, a LIMIT parameter). A list with no filter beyond "described films
only" therefore runs the plain form: the query, the exclusions and the viewer are its only parameters
and its LIMIT is a tier written into the text, so after five calls PostgreSQL keeps one generic plan
per connection. similarMovies' statement on the Wikipedia catalogue: 1.66 against 1.52 ms p50 in
process (300 films, which of the two ran first alternated), 3.66 against 3.34 ms over HTTP, the same
films. Filtered lists keep the parameterised form, whose custom plans fold the filter's values (a
generic plan of it took 64 ms instead of 1 ms under a selective filter).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import numpy as np
from pgvector import Vector

from app.catalogue.movies import MOVIE_COLUMNS
from app.recs.ranking import Candidate
from app.search.fallback import VectorFallback, nearest_in_memory, nearest_many_in_memory, pgvector_or_in_process
from app.search.filters import NO_FILTER, MovieFilter
from app.search.fusion import TITLE_MIN_SIMILARITY
from app.search.index import DESCRIBED_ONLY
from app.settings import Metric, Settings
from app.vectors import NO_VECTOR, as_array

# Oversampling: rankers (popularity blend, MMR) choose from at least this many times `limit`.
POOL_FACTOR = 5
MIN_POOL = 50


def pool_size(limit: int) -> int:
    """Candidates fetched for a list of `limit` results."""
    return max(limit * POOL_FACTOR, MIN_POOL)


DISTANCE_OPERATORS: dict[Metric, str] = {"cosine": "<=>", "l2": "<->", "inner_product": "<#>"}

# The query vector: a parameter, or a movie's own vector kept inside SQL (an InitPlan, so the
# index still applies).
VECTOR_PARAM = "$1::vector"
MOVIE_VECTOR = "(SELECT e.embedding FROM movies e WHERE e.id = $1::bigint)"
_AFTER_FILTER = 2 + MovieFilter.PARAMETERS  # nearest(): $1 query, $2.. filter, then exclusions, viewer, limit


def nearest_sql(
    metric: Metric, query_vector: str, *, exact: bool = False, described_only: bool = False, vectors: bool = True
) -> str:
    """k-nearest movies to a query vector ($1) with MovieFilter ($2..), exclusions, viewer and limit after it.

    The indexed form orders by the distance operator itself so pgvector's index serves it; the
    exact form orders by an expression of it, which no index matches: a full, exact scan.
    `described_only` says in the statement's text what the filter's exclude_thin says in a parameter,
    so that every plan, generic ones too, may use the partial index over described films. Without
    `vectors` the films' own vectors stay behind (each is a TOAST read and 1.5 kB to send).
    """
    distance = f"m.embedding {DISTANCE_OPERATORS[metric]} {query_vector}"
    order = f"({distance}) + 0" if exact else distance
    exclude, viewer, limit = (f"${_AFTER_FILTER + i}" for i in range(3))
    described = f" AND m.{DESCRIBED_ONLY}" if described_only else ""
    return f"""
SELECT {MOVIE_COLUMNS}, {embedding_column(vectors)}, {distance} AS distance
FROM movies m
WHERE m.embedding IS NOT NULL AND {query_vector} IS NOT NULL AND {MovieFilter.clause(2)}{described}
  AND NOT (m.id = ANY({exclude}::bigint[]))
  AND ({viewer}::bigint IS NULL
       OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = {viewer} AND x.movie_id = m.id))
ORDER BY {order}
LIMIT {limit}
"""


def nearest_many_sql(metric: Metric, *, vectors: bool = True) -> str:
    """k-nearest movies for each ($1 key, $2 vector) pair, with MovieFilter ($3..), exclusions, per-key viewer."""
    distance = f"m.embedding {DISTANCE_OPERATORS[metric]} q.vector"
    exclude, unseen_by_key, limit = (f"${3 + MovieFilter.PARAMETERS + i}" for i in range(3))
    return f"""
SELECT q.key, c.*
FROM unnest($1::bigint[], $2::vector[]) AS q(key, vector)
CROSS JOIN LATERAL (
    SELECT {MOVIE_COLUMNS}, {embedding_column(vectors)}, {distance} AS distance
    FROM movies m
    WHERE m.embedding IS NOT NULL AND {MovieFilter.clause(3)}
      AND NOT (m.id = ANY({exclude}::bigint[]))
      AND ({unseen_by_key}::boolean IS NOT TRUE
           OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = q.key AND x.movie_id = m.id))
    ORDER BY {distance}
    LIMIT {limit}
) AS c
"""


def embedding_column(vectors: bool) -> str:
    """The films' vectors as a select-list column, or a NULL in their place (each is a TOAST read and 1.5 kB)."""
    return "m.embedding" if vectors else "NULL::vector AS embedding"


# Keyed by (metric, query vector, exact, described only, with the films' vectors).
NEAREST = {
    (metric, vector, exact, described, vectors): nearest_sql(
        metric, vector, exact=exact, described_only=described, vectors=vectors
    )
    for metric in DISTANCE_OPERATORS
    for vector in (VECTOR_PARAM, MOVIE_VECTOR)
    for exact in (False, True)
    for described in (False, True)
    for vectors in (False, True)
}
NEAREST_MANY = {
    (metric, vectors): nearest_many_sql(metric, vectors=vectors)
    for metric in DISTANCE_OPERATORS
    for vectors in (False, True)
}

# The plain form's LIMITs: a list's depth is rounded up to one (rows past the depth are dropped), so
# a connection prepares a handful of texts. They are the depths of pages of 10 and 20 (one row more)
# and the candidate pools of those pages (pool_size), so the common lists fetch nothing extra.
LIMIT_TIERS = (11, 21, 55, 105, 255, 505)


def plain_limit(limit: int) -> int | None:
    """The tier a plain statement fetches for `limit` rows; None past the largest (the parameterised form)."""
    return next((tier for tier in LIMIT_TIERS if limit <= tier), None)


@functools.cache
def plain_nearest_sql(
    metric: Metric, query_vector: str, described_only: bool, viewer: bool, limit: int, vectors: bool = True
) -> str:
    """k-nearest movies to $1 with no filter values: exclusions $2, the viewer $3 if `viewer`, LIMIT written in."""
    distance = f"m.embedding {DISTANCE_OPERATORS[metric]} {query_vector}"
    described = f" AND m.{DESCRIBED_ONLY}" if described_only else ""
    unseen = " AND NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = $3::bigint AND x.movie_id = m.id)"
    return f"""
SELECT {MOVIE_COLUMNS}, {embedding_column(vectors)}, {distance} AS distance
FROM movies m
WHERE m.embedding IS NOT NULL AND {query_vector} IS NOT NULL{described}
  AND NOT (m.id = ANY($2::bigint[])){unseen if viewer else ""}
ORDER BY {distance}
LIMIT {int(limit)}
"""


def similarity_from_distance(metric: Metric, distance: float) -> float:
    """Cosine similarity for unit vectors, whichever distance the index uses."""
    if metric == "cosine":
        return 1.0 - distance
    if metric == "inner_product":
        return -distance  # <#> is the negative inner product
    return 1.0 - distance * distance / 2.0


def to_candidate(row: Mapping[str, Any], metric: Metric) -> Candidate:
    """A result row (movie columns, embedding, distance) as a ranking candidate."""
    movie = dict(row)
    stored = movie.pop("embedding")
    vector = NO_VECTOR if stored is None else as_array(stored)
    distance = movie.pop("distance")
    similarity = similarity_from_distance(metric, distance) if distance is not None else 0.0
    return Candidate(movie=movie, vector=vector, similarity=similarity, distance=distance, score=similarity)


class VectorSearch:
    """Runs k-NN queries with the index settings from Settings.

    On connections opened with `session_settings` (the API's pool, HNSW) every read is one plain
    statement. Elsewhere (the CLI, evaluate, IVFFlat whose probes follow the index as built) each read
    runs in a read-only transaction whose SET LOCALs vanish with it, so nothing leaks to a pool.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        ivfflat_probes: int = 1,
        settings_on_connection: bool = False,
        fallback: VectorFallback | None = None,
    ) -> None:
        self.settings, self.fallback = settings, fallback
        self.metric: Metric = settings.index_metric
        self.settings_on_connection = settings_on_connection and settings.index_type == "hnsw"
        # Integers from validated settings: safe to inline, and one round trip with BEGIN.
        self._begin = (
            "BEGIN READ ONLY;"
            f" SET LOCAL hnsw.ef_search = {int(settings.hnsw_ef_search)};"
            " SET LOCAL hnsw.iterative_scan = strict_order;"
            f" SET LOCAL ivfflat.probes = {int(ivfflat_probes)};"
            " SET LOCAL ivfflat.iterative_scan = relaxed_order;"
            f" SET LOCAL pg_trgm.similarity_threshold = {TITLE_MIN_SIMILARITY}"
        )

    @asynccontextmanager
    async def transaction(self, conn: asyncpg.Connection) -> AsyncIterator[None]:
        """A read-only transaction whose SET LOCALs vanish with it: nothing leaks to the pool."""
        if self.settings_on_connection:
            yield  # the connection carries the settings: a plain statement, one round trip
            return
        await conn.execute(self._begin)
        try:
            yield
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")

    async def nearest(
        self,
        conn: asyncpg.Connection,
        query: Any,
        *,
        by_movie: bool = False,
        movie_filter: MovieFilter = NO_FILTER,
        exclude: Sequence[int] = (),
        unseen_by: int | None = None,
        limit: int,
        film_vectors: bool = True,
    ) -> list[Candidate]:
        """The `limit` nearest movies to a vector (or to movie `query`'s own vector, kept in SQL).

        `film_vectors=False` leaves the films' own vectors out (NO_VECTOR): only diversity and example
        scoring compare them. Without pgvector, or while its path is degraded, the in-process exact
        search answers.
        """
        vector_sql = MOVIE_VECTOR if by_movie else VECTOR_PARAM
        params = [query, *movie_filter.params(), list(exclude), unseen_by, limit]
        described = movie_filter.exclude_thin
        tier = plain_limit(limit) if movie_filter.narrows_only_to_described else None

        async def on_pgvector() -> list[Candidate]:
            async with self.transaction(conn):
                if tier is not None:  # planned once per connection (see the module docstring)
                    viewer = [] if unseen_by is None else [unseen_by]
                    statement = plain_nearest_sql(self.metric, vector_sql, described, bool(viewer), tier, film_vectors)
                    rows = (await conn.fetch(statement, query, list(exclude), *viewer))[:limit]
                else:
                    rows = await conn.fetch(NEAREST[(self.metric, vector_sql, False, described, film_vectors)], *params)
                if len(rows) < limit and (movie_filter.active or unseen_by is not None):
                    # A very selective filter can exhaust the index scan's budget: scan exactly instead.
                    rows = await conn.fetch(NEAREST[(self.metric, vector_sql, True, described, film_vectors)], *params)
            candidates = [to_candidate(row, self.metric) for row in rows]
            # IVFFlat's iterative scan returns rows in relaxed order.
            candidates.sort(key=lambda c: (-c.similarity, c.id))
            return candidates

        async def in_process(fallback: VectorFallback) -> list[Candidate]:
            target = int(query) if by_movie else query
            return await nearest_in_memory(
                conn,
                fallback,
                self.settings,
                target,
                movie_filter=movie_filter,
                exclude=exclude,
                unseen_by=unseen_by,
                limit=limit,
            )

        return await pgvector_or_in_process(self.fallback, on_pgvector, in_process)

    async def nearest_many(
        self,
        conn: asyncpg.Connection,
        keys: Sequence[int],
        vectors: Sequence[Any],
        *,
        movie_filter: MovieFilter = NO_FILTER,
        exclude: Sequence[int] = (),
        unseen_by_key: bool = False,
        limit: int,
        film_vectors: bool = True,
    ) -> dict[int, list[Candidate]]:
        """k-NN for several query vectors in one round trip; with `unseen_by_key`, keys are user ids.

        `film_vectors=False` leaves the films' own vectors out, as in `nearest`.
        """
        if not keys:
            return {}

        async def on_pgvector() -> dict[int, list[Candidate]]:
            # An array of vectors travels as pgvector Vector objects (the codec's array form).
            arrays = [Vector(np.asarray(v, dtype=np.float32)) for v in vectors]
            params = [list(keys), arrays, *movie_filter.params(), list(exclude), unseen_by_key, limit]
            async with self.transaction(conn):
                rows = await conn.fetch(NEAREST_MANY[(self.metric, film_vectors)], *params)
            grouped: dict[int, list[Candidate]] = {key: [] for key in keys}
            for row in rows:
                record = dict(row)
                key = record.pop("key")
                grouped[key].append(to_candidate(record, self.metric))
            for candidates in grouped.values():
                candidates.sort(key=lambda c: (-c.similarity, c.id))
            return grouped

        async def in_process(fallback: VectorFallback) -> dict[int, list[Candidate]]:
            return await nearest_many_in_memory(
                conn, fallback, self.settings, keys, vectors, movie_filter, exclude, unseen_by_key, limit
            )

        return await pgvector_or_in_process(self.fallback, on_pgvector, in_process)
