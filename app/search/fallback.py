"""k-NN reads answered from the in-process vectors (app/search/memory.py): always on a database without
pgvector, and on a pgvector database while its index is missing or invalid or a vector query fails.

The in-process answer is an exact search, then one statement applies the same filter, exclusions and
viewer as the pgvector query to the ranked ids, in rank order: the same result shape, exact order.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import asyncpg
import numpy as np

from app.catalogue.movies import MOVIE_COLUMNS
from app.db.connections import every
from app.db.portable import pgvector_installed
from app.recs.ranking import Candidate
from app.search.filters import NO_FILTER, MovieFilter
from app.search.index import describe_index
from app.search.memory import CHECK_EVERY_S, InMemoryVectors, Ranking
from app.settings import Metric, Settings
from app.vectors import FloatArray, as_array

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

# The first candidates tried: enough for a filter that keeps one film in twenty; fewer results than
# asked for mean a more selective filter, and every ranked film is tried (a second statement).
FIRST_TRY = 20
# For each query key, its ranked films ($1 keys, $2 ids, $3 similarities, in rank order), then the
# filter, exclusions, whether keys are the viewers (else one viewer, maybe none) and the limit per key.
_F = 4
_AFTER = _F + MovieFilter.PARAMETERS
RANKED_MOVIES = f"""
SELECT * FROM (
    SELECT r.key, {MOVIE_COLUMNS}, r.similarity, row_number() OVER (PARTITION BY r.key ORDER BY r.k) AS place
    FROM unnest($1::bigint[], $2::bigint[], $3::float8[]) WITH ORDINALITY AS r(key, id, similarity, k)
    JOIN movies m ON m.id = r.id
    CROSS JOIN LATERAL (SELECT CASE WHEN ${_AFTER + 1}::boolean THEN r.key ELSE ${_AFTER + 2}::bigint END AS id) v
    WHERE {MovieFilter.clause(_F)}
      AND NOT (m.id = ANY(${_AFTER}::bigint[]))
      AND (v.id IS NULL OR NOT EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = v.id AND x.movie_id = m.id))
) ranked
WHERE place <= ${_AFTER + 3}
ORDER BY key, place
"""


STORED_VECTOR = "SELECT embedding FROM movies WHERE id = $1"


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


T = TypeVar("T")


async def pgvector_or_in_process(
    fallback: VectorFallback | None,
    on_pgvector: Callable[[], Awaitable[T]],
    in_process: Callable[[VectorFallback], Awaitable[T]],
) -> T:
    """A k-NN read by pgvector, or in process while its path is degraded or when pgvector fails under it."""
    if fallback is not None and fallback.active:
        return await in_process(fallback)
    try:
        return await on_pgvector()
    except PGVECTOR_FAILURES as error:
        if fallback is None:
            raise
        fallback.failed(error)
        return await in_process(fallback)


async def watch(fallback: VectorFallback, dsn: str) -> None:
    """For the life of the API process: keep loaded vectors current (every CHECK_EVERY_S) and check the
    films' index (every INDEX_CHECK_EVERY_S).

    On a connection of its own: the pool's statements stay exactly the requests' own.
    """
    index_checked = 0.0

    async def step(conn: asyncpg.Connection) -> None:
        nonlocal index_checked
        await fallback.memory.refresh(conn)
        if time.monotonic() - index_checked >= INDEX_CHECK_EVERY_S:
            index_checked = time.monotonic()
            await fallback.check_index(conn)

    fallback.memory.watched = True
    try:
        await every(CHECK_EVERY_S, dsn, step)
    finally:
        fallback.memory.watched = False


async def vector_fallback(conn: asyncpg.Connection) -> VectorFallback:
    """The fallback for this database: always active when the database has no pgvector."""
    pgvector = await pgvector_installed(conn)
    return VectorFallback(InMemoryVectors(pgvector=pgvector), portable=not pgvector)


Rank = Callable[[int | None], Ranking]  # the `top` best films (None: all of them)


async def _fetch_ranked(
    conn: asyncpg.Connection,
    rankings: dict[int, Ranking],
    movie_filter: MovieFilter,
    exclude: Sequence[int],
    keys_are_viewers: bool,
    viewer: int | None,
    limit: int,
) -> dict[int, list[dict[str, Any]]]:
    keys = [key for key, ranking in rankings.items() for _ in range(len(ranking))]
    ids = [int(i) for ranking in rankings.values() for i in ranking.ids]
    similarities = [float(x) for ranking in rankings.values() for x in ranking.similarities]
    params = [keys, ids, similarities, *movie_filter.params(), list(exclude), keys_are_viewers, viewer, limit]
    out: dict[int, list[dict[str, Any]]] = {key: [] for key in rankings}
    for row in await conn.fetch(RANKED_MOVIES, *params):
        movie = dict(row)
        del movie["place"]
        out[movie.pop("key")].append(movie)
    return out


async def ranked_movies(
    conn: asyncpg.Connection,
    rankings: dict[int, Rank],
    *,
    movie_filter: MovieFilter,
    exclude: Sequence[int],
    keys_are_viewers: bool = False,
    viewer: int | None = None,
    limit: int,
) -> dict[int, list[dict[str, Any]]]:
    """For each key, its first `limit` ranked movies that pass the filter, exclusions and viewer, in rank order.

    One statement for every key; a second, with every film ranked, only for keys whose first
    candidates were too few for the filter.
    """
    first = {key: rank(limit * FIRST_TRY + len(exclude)) for key, rank in rankings.items()}
    rows = await _fetch_ranked(conn, first, movie_filter, exclude, keys_are_viewers, viewer, limit)
    retry = {key: rankings[key](None) for key in rankings if len(rows[key]) < limit}
    retry = {key: ranking for key, ranking in retry.items() if len(ranking) > len(first[key])}
    if retry:
        rows.update(await _fetch_ranked(conn, retry, movie_filter, exclude, keys_are_viewers, viewer, limit))
    return rows


def _candidates(memory: InMemoryVectors, metric: Metric, rows: list[dict[str, Any]]) -> list[Candidate]:
    candidates = []
    for movie in rows:
        similarity = float(movie.pop("similarity"))
        own = memory.vector_of(movie["id"])
        assert own is not None  # ranked ids come from the same matrix
        distance = distance_from_similarity(metric, similarity)
        candidates.append(
            Candidate(movie=movie, vector=own, similarity=similarity, distance=distance, score=similarity)
        )
    return candidates


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
    if vector is None and isinstance(query, int):
        # Embedded since the matrices were last loaded (they follow within a second): its stored vector.
        stored = await conn.fetchval(STORED_VECTOR, query)
        vector = None if stored is None else as_array(stored)
    if vector is None:
        return []
    rankings: dict[int, Rank] = {0: partial(memory.films_like, vector)}
    rows = await ranked_movies(
        conn, rankings, movie_filter=movie_filter, exclude=exclude, viewer=unseen_by, limit=limit
    )
    return _candidates(memory, settings.index_metric, rows[0])


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
    """nearest_many from the in-process vectors: every key's films in one statement."""
    memory = await fallback.memory.current(conn)
    queries = {key: np.asarray(vector, dtype=np.float32) for key, vector in zip(keys, vectors, strict=True)}
    rankings: dict[int, Rank] = {key: partial(memory.films_like, query) for key, query in queries.items()}
    rows = await ranked_movies(
        conn, rankings, movie_filter=movie_filter, exclude=exclude, keys_are_viewers=unseen_by_key, limit=limit
    )
    return {key: _candidates(memory, settings.index_metric, rows[key]) for key in keys}
