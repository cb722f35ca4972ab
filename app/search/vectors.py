"""Nearest-neighbour queries with pgvector: per-query search settings, filters that keep recall."""

from __future__ import annotations

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
from app.search.statements import MOVIE_VECTOR, NEAREST, NEAREST_MANY, VECTOR_PARAM, plain_limit, plain_nearest_sql
from app.settings import Metric, Settings
from app.vectors import as_array

# Oversampling: rankers (popularity blend, MMR) choose from at least this many times `limit`.
POOL_FACTOR = 5
MIN_POOL = 50


def pool_size(limit: int) -> int:
    """Candidates fetched for a list of `limit` results."""
    return max(limit * POOL_FACTOR, MIN_POOL)


# Cold start: movies many people rated well (count x mean = the sum of their ratings), the catalogue's
# own votes breaking ties; the same filter ($1..), then exclusions, viewer and limit. The score covers
# every film, so the ranking reads them all: narrow rows (id and score) are ranked first and only the
# page's films are read whole (24 against 41 ms p50 on the Wikipedia catalogue, the same films).
_P = 1 + MovieFilter.PARAMETERS
POPULAR_MOVIES = f"""
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
SELECT {MOVIE_COLUMNS}, m.embedding, NULL::float8 AS distance
FROM top JOIN movies m ON m.id = top.id
ORDER BY top.score DESC, m.id
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
    vector = as_array(movie.pop("embedding"))
    distance = movie.pop("distance")
    similarity = similarity_from_distance(metric, distance) if distance is not None else 0.0
    return Candidate(movie=movie, vector=vector, similarity=similarity, distance=distance, score=similarity)


def session_settings(settings: Settings) -> dict[str, str]:
    """HNSW's search settings as connection parameters: a pool opened with them needs no per-query SET."""
    return {
        "hnsw.ef_search": str(int(settings.hnsw_ef_search)),
        "hnsw.iterative_scan": "strict_order",
        # Title search's trigram index prunes at this similarity (app/search/hybrid.py filters at it too).
        "pg_trgm.similarity_threshold": str(TITLE_MIN_SIMILARITY),
    }


CURRENT_EF_SEARCH = "SELECT current_setting('hnsw.ef_search', true)"


async def carries_session_settings(conn: asyncpg.Connection, settings: Settings) -> bool:
    """Whether this (pooled) connection was opened with `session_settings`."""
    return bool(await conn.fetchval(CURRENT_EF_SEARCH) == str(int(settings.hnsw_ef_search)))


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
    ) -> list[Candidate]:
        """The `limit` nearest movies to a vector (or to movie `query`'s own vector, kept in SQL).

        Without pgvector, or while its path is degraded, the in-process exact search answers.
        """
        vector_sql = MOVIE_VECTOR if by_movie else VECTOR_PARAM
        params = [query, *movie_filter.params(), list(exclude), unseen_by, limit]
        described = movie_filter.exclude_thin
        tier = plain_limit(limit) if movie_filter.narrows_only_to_described else None

        async def on_pgvector() -> list[Candidate]:
            async with self.transaction(conn):
                if tier is not None:  # planned once per connection (app/search/statements.py)
                    viewer = [] if unseen_by is None else [unseen_by]
                    statement = plain_nearest_sql(self.metric, vector_sql, described, bool(viewer), tier)
                    rows = (await conn.fetch(statement, query, list(exclude), *viewer))[:limit]
                else:
                    rows = await conn.fetch(NEAREST[(self.metric, vector_sql, False, described)], *params)
                if len(rows) < limit and (movie_filter.active or unseen_by is not None):
                    # A very selective filter can exhaust the index scan's budget: scan exactly instead.
                    rows = await conn.fetch(NEAREST[(self.metric, vector_sql, True, described)], *params)
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
    ) -> dict[int, list[Candidate]]:
        """k-NN for several query vectors in one round trip; with `unseen_by_key`, keys are user ids."""
        if not keys:
            return {}

        async def on_pgvector() -> dict[int, list[Candidate]]:
            # An array of vectors travels as pgvector Vector objects (the codec's array form).
            arrays = [Vector(np.asarray(v, dtype=np.float32)) for v in vectors]
            params = [list(keys), arrays, *movie_filter.params(), list(exclude), unseen_by_key, limit]
            async with self.transaction(conn):
                rows = await conn.fetch(NEAREST_MANY[self.metric], *params)
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

    async def popular(
        self,
        conn: asyncpg.Connection,
        *,
        movie_filter: MovieFilter = NO_FILTER,
        exclude: Sequence[int] = (),
        unseen_by: int | None = None,
        limit: int,
    ) -> list[Candidate]:
        """Popular, well-rated movies: the cold-start list."""
        rows = await conn.fetch(POPULAR_MOVIES, *movie_filter.params(), list(exclude), unseen_by, limit)
        return [to_candidate(row, self.metric) for row in rows]
