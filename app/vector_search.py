"""Nearest-neighbour queries with pgvector: per-query search settings, filters that keep recall."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
from pgvector import Vector

from app.ranking import Candidate
from app.settings import Metric, Settings
from app.sql import movies as sql

# Oversampling: rankers (popularity blend, MMR) choose from at least this many times `limit`.
POOL_FACTOR = 5
MIN_POOL = 50


def pool_size(limit: int) -> int:
    """Candidates fetched for a list of `limit` results."""
    return max(limit * POOL_FACTOR, MIN_POOL)


@dataclass(frozen=True)
class MovieFilter:
    """Genres (any of), a year range, a minimum vote average and ids to leave out."""

    genres: tuple[str, ...] | None = None
    year_min: int | None = None
    year_max: int | None = None
    min_vote_average: float | None = None
    exclude_ids: tuple[int, ...] = ()

    @property
    def active(self) -> bool:
        """True when the filter removes anything."""
        return any(v is not None for v in (self.genres, self.year_min, self.year_max, self.min_vote_average)) or bool(
            self.exclude_ids
        )

    def params(self) -> list[Any]:
        """The five parameters the SQL filter expects."""
        return [
            list(self.genres) if self.genres else None,
            self.year_min,
            self.year_max,
            self.min_vote_average,
            list(self.exclude_ids) or None,
        ]


NO_FILTER = MovieFilter()


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
    vector = np.asarray(movie.pop("embedding").to_numpy(), dtype=np.float32)
    distance = movie.pop("distance")
    similarity = similarity_from_distance(metric, distance) if distance is not None else 0.0
    return Candidate(movie=movie, vector=vector, similarity=similarity, distance=distance, score=similarity)


class VectorSearch:
    """Runs k-NN queries with the index settings from Settings applied per transaction."""

    def __init__(self, settings: Settings, *, ivfflat_probes: int = 1) -> None:
        self.settings = settings
        self.metric: Metric = settings.index_metric
        # Integers from validated settings: safe to inline, and one round trip with BEGIN.
        self._begin = (
            "BEGIN READ ONLY;"
            f" SET LOCAL hnsw.ef_search = {int(settings.hnsw_ef_search)};"
            " SET LOCAL hnsw.iterative_scan = strict_order;"
            f" SET LOCAL ivfflat.probes = {int(ivfflat_probes)};"
            " SET LOCAL ivfflat.iterative_scan = relaxed_order"
        )

    @asynccontextmanager
    async def transaction(self, conn: asyncpg.Connection) -> AsyncIterator[None]:
        """A read-only transaction whose SET LOCALs vanish with it: nothing leaks to the pool."""
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
        """The `limit` nearest movies to a vector (or to movie `query`'s own vector, kept in SQL)."""
        vector_sql = sql.MOVIE_VECTOR if by_movie else sql.VECTOR_PARAM
        params = [query, *movie_filter.params(), list(exclude), unseen_by, limit]
        async with self.transaction(conn):
            rows = await conn.fetch(sql.NEAREST[(self.metric, vector_sql, False)], *params)
            if len(rows) < limit and (movie_filter.active or unseen_by is not None):
                # A very selective filter can exhaust the index scan's budget: scan exactly instead.
                rows = await conn.fetch(sql.NEAREST[(self.metric, vector_sql, True)], *params)
        candidates = [to_candidate(row, self.metric) for row in rows]
        # IVFFlat's iterative scan returns rows in relaxed order.
        candidates.sort(key=lambda c: (-c.similarity, c.id))
        return candidates

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
        # An array of vectors travels as pgvector Vector objects (the codec's array form).
        arrays = [Vector(np.asarray(v, dtype=np.float32)) for v in vectors]
        params = [list(keys), arrays, *movie_filter.params(), list(exclude), unseen_by_key, limit]
        async with self.transaction(conn):
            rows = await conn.fetch(sql.NEAREST_MANY[self.metric], *params)
        grouped: dict[int, list[Candidate]] = {key: [] for key in keys}
        for row in rows:
            record = dict(row)
            key = record.pop("key")
            grouped[key].append(to_candidate(record, self.metric))
        for candidates in grouped.values():
            candidates.sort(key=lambda c: (-c.similarity, c.id))
        return grouped

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
        rows = await conn.fetch(sql.POPULAR_MOVIES, *movie_filter.params(), list(exclude), unseen_by, limit)
        return [to_candidate(row, self.metric) for row in rows]
