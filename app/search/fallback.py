"""k-NN reads answered from the in-process vectors (app/search/memory.py): always on a database without
pgvector, and on a pgvector database while its index is missing or invalid or a vector query fails.

The in-process answer is an exact search, then one statement applies the same filter, exclusions and
viewer as the pgvector query to the ranked ids, in rank order: the same result shape, exact order.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence

import asyncpg
import numpy as np

from app.catalogue.movies import MOVIE_COLUMNS
from app.db.portable import pgvector_installed
from app.recs.ranking import Candidate
from app.search.filters import NO_FILTER, MovieFilter
from app.search.index import describe_index
from app.search.memory import InMemoryVectors, Ranking
from app.settings import Metric, Settings
from app.vectors import FloatArray

log = logging.getLogger(__name__)

# Failures of pgvector itself (its functions or types gone, an index it cannot read), not of the
# request: the in-process search answers them. Anything else (a timeout, a bad argument) is not hidden.
PGVECTOR_FAILURES: tuple[type[Exception], ...] = (
    asyncpg.UndefinedFunctionError,
    asyncpg.UndefinedObjectError,
    asyncpg.InternalServerError,
    asyncpg.IndexCorruptedError,
    asyncpg.DataCorruptedError,
    asyncpg.FeatureNotSupportedError,
)
INDEX_CHECK_EVERY_S = 5.0
PORTABLE_SEARCH = "in-process exact search (this database has no pgvector)"

# The first candidates tried: enough for a filter that keeps one film in ten; fewer results than
# asked for mean a more selective filter, and every ranked film is tried.
FIRST_TRY = 20
_F = 3  # $1 ranked ids, $2 their similarities, then the filter, exclusions, viewer and limit
_AFTER = _F + MovieFilter.PARAMETERS
RANKED_MOVIES = f"""
SELECT {MOVIE_COLUMNS}, r.similarity
FROM unnest($1::bigint[], $2::float8[]) WITH ORDINALITY AS r(id, similarity, k)
JOIN movies m ON m.id = r.id
WHERE {MovieFilter.clause(_F)}
  AND NOT (m.id = ANY(${_AFTER}::bigint[]))
  AND (${_AFTER + 1}::bigint IS NULL
       OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = ${_AFTER + 1} AND x.movie_id = m.id))
ORDER BY r.k
LIMIT ${_AFTER + 2}
"""


def distance_from_similarity(metric: Metric, similarity: float) -> float:
    """The distance pgvector's operator would report for unit vectors with this cosine similarity."""
    if metric == "cosine":
        return 1.0 - similarity
    if metric == "inner_product":
        return -similarity
    return math.sqrt(max(0.0, 2.0 - 2.0 * similarity))


class VectorFallback:
    """Whether k-NN reads go to the in-process vectors, and why: `/readyz`, `stats` and `doctor` show it."""

    def __init__(self, memory: InMemoryVectors, *, portable: bool) -> None:
        self.memory, self.portable = memory, portable
        self.cause: str | None = None
        self.fix: str | None = None

    @property
    def active(self) -> bool:
        """True when the in-process search answers k-NN reads."""
        return self.portable or self.cause is not None

    @property
    def mode(self) -> str:
        """How this process answers k-NN reads, in words."""
        if self.portable:
            return PORTABLE_SEARCH
        if self.cause is not None:
            return f"in-process exact search (fallback: {self.cause})"
        return "pgvector"

    def engage(self, cause: str, fix: str) -> None:
        """Serve k-NN reads in process from now on; logged once per cause."""
        if cause != self.cause:
            log.warning("pgvector query path degraded (%s): the in-process exact search answers. Fix: %s", cause, fix)
        self.cause, self.fix = cause, fix

    def release(self) -> None:
        """pgvector serves again."""
        if self.cause is not None:
            log.info("pgvector serves k-NN reads again (was: %s)", self.cause)
        self.cause = self.fix = None

    def failed(self, error: Exception) -> None:
        """A pgvector query failed in a way the in-process search can answer."""
        self.engage(f"{type(error).__name__}: {error}", "run `movierec doctor` and follow its fixes")

    async def check_index(self, conn: asyncpg.Connection) -> None:
        """A missing or invalid films index sends k-NN reads in process until it is valid again."""
        if self.portable:
            return
        index = await describe_index(conn)
        if index is None or not index.valid:
            state = "missing" if index is None else "invalid"
            self.engage(f"the vector index is {state}", "run `movierec index` (or the rebuildVectorIndex mutation)")
        elif self.cause is not None and self.cause.startswith("the vector index"):
            self.release()


async def watch_index(fallback: VectorFallback, dsn: str) -> None:
    """Check the films' index every INDEX_CHECK_EVERY_S for the life of the API process.

    On a connection of its own: the pool's statements stay exactly the requests' own.
    """
    conn: asyncpg.Connection | None = None
    try:
        while True:
            try:
                conn = conn if conn is not None and not conn.is_closed() else await asyncpg.connect(dsn)
                await fallback.check_index(conn)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn = None  # the database is away: requests say so themselves; look again later
            await asyncio.sleep(INDEX_CHECK_EVERY_S)
    finally:
        if conn is not None:
            await conn.close()


async def vector_fallback(conn: asyncpg.Connection) -> VectorFallback:
    """The fallback for this database: always active when the database has no pgvector."""
    pgvector = await pgvector_installed(conn)
    return VectorFallback(InMemoryVectors(pgvector=pgvector), portable=not pgvector)


async def ranked_movies(
    conn: asyncpg.Connection,
    ranking: Callable[[int | None], Ranking],
    *,
    movie_filter: MovieFilter,
    exclude: Sequence[int],
    unseen_by: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """The first `limit` ranked movies that pass the filter, exclusions and viewer, in rank order.

    `ranking(top)` ranks the `top` best films (None: all); the whole ranking is needed only when the
    first candidates are too few for the filter.
    """
    first = ranking(limit * FIRST_TRY + len(exclude))
    rows: list[asyncpg.Record] = []
    for tried in (first, None):
        if tried is None:
            tried = ranking(None)
            if len(tried) == len(first):
                break  # the first try held every film already
        params = [tried.ids.tolist(), tried.similarities.astype(np.float64).tolist(), *movie_filter.params()]
        rows = await conn.fetch(RANKED_MOVIES, *params, list(exclude), unseen_by, limit)
        if len(rows) >= limit:
            break
    return rows


async def nearest_in_memory(
    conn: asyncpg.Connection,
    fallback: VectorFallback,
    settings: Settings,
    query: FloatArray | int,
    *,
    movie_filter: MovieFilter = NO_FILTER,
    exclude: Sequence[int] = (),
    unseen_by: int | None = None,
    limit: int,
) -> list[Candidate]:
    """The `limit` nearest movies to a vector (or to movie `query`'s own vector), exactly, in process."""
    memory = await fallback.memory.current(conn)
    vector = memory.vector_of(query) if isinstance(query, int) else np.asarray(query, dtype=np.float32)
    if vector is None:
        return []
    rows = await ranked_movies(
        conn,
        lambda top: memory.films_like(vector, top),
        movie_filter=movie_filter,
        exclude=exclude,
        unseen_by=unseen_by,
        limit=limit,
    )
    candidates = []
    for row in rows:
        movie = dict(row)
        similarity = float(movie.pop("similarity"))
        own = memory.vector_of(movie["id"])
        assert own is not None  # ranked ids come from the same matrix
        distance = distance_from_similarity(settings.index_metric, similarity)
        candidates.append(
            Candidate(movie=movie, vector=own, similarity=similarity, distance=distance, score=similarity)
        )
    return candidates


async def nearest_many_in_memory(
    conn: asyncpg.Connection,
    fallback: VectorFallback,
    settings: Settings,
    keys: Sequence[int],
    vectors: Sequence[FloatArray],
    movie_filter: MovieFilter,
    exclude: Sequence[int],
    unseen_by_key: bool,
    limit: int,
) -> dict[int, list[Candidate]]:
    """nearest_many from the in-process vectors: one filtering statement per key (keys are few)."""
    return {
        key: await nearest_in_memory(
            conn,
            fallback,
            settings,
            np.asarray(vector, dtype=np.float32),
            movie_filter=movie_filter,
            exclude=exclude,
            unseen_by=key if unseen_by_key else None,
            limit=limit,
        )
        for key, vector in zip(keys, vectors, strict=True)
    }
