"""Exact nearest-neighbour search in the API process: the catalogue's film and passage vectors as numpy
matrices, for databases without pgvector and as the fallback when a pgvector query fails.

The matrices are read once (vectors travel as their binary send format and are parsed by numpy, not
row by row) and reloaded when the stored vectors change: every CHECK_EVERY_S a one-row read compares
the count and newest write time of the active generation's vectors (in the API, a background task on
a connection of its own; elsewhere, the caller's connection at most that often). Every API
process holds its own copy and checks on its own, so processes agree once each has looked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import numpy as np
import numpy.typing as npt

from app.vectors import FloatArray, from_array_send

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0

VECTORS_VERSION = """
SELECT (SELECT id FROM embedding_generations WHERE slot = 'active') AS generation,
       count(embedding) AS stored, max(embedded_at) AS newest
FROM movies
"""
# A reload re-reads only the films written since the last one, less this overlap: a batch committed
# just after the version was read carries its transaction's start time, which is seconds earlier.
OVERLAP = timedelta(minutes=1)
# array_send / vector_send: one bytea per row, parsed into the matrix by numpy. Each statement comes in
# a pgvector form (True) and a portable one (False).
_SEND = {True: "vector_send(embedding)", False: "array_send(embedding::real[])"}


def _both_kinds(template: str) -> dict[bool, str]:
    return {pgvector: template.format(send=send) for pgvector, send in _SEND.items()}


FILM_VECTORS = _both_kinds("SELECT id, {send} AS data FROM movies WHERE embedding IS NOT NULL ORDER BY id")
PASSAGE_VECTORS = _both_kinds("SELECT movie_id AS id, {send} AS data FROM movie_passages ORDER BY movie_id, ordinal")
FILM_VECTORS_SINCE = _both_kinds(
    "SELECT id, {send} AS data FROM movies WHERE embedding IS NOT NULL AND embedded_at > $1 ORDER BY id"
)
PASSAGE_VECTORS_OF = _both_kinds(
    "SELECT movie_id AS id, {send} AS data FROM movie_passages WHERE movie_id = ANY($1::bigint[])"
)
# pgvector's binary form: dimension and an unused int16, then the values.
_VECTOR_HEADER = 4


def parse_vectors(rows: list[bytes], *, pgvector: bool) -> FloatArray:
    """Rows of send-format vectors as one float32 matrix, each row scaled to unit length."""
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    if pgvector:
        matrix = np.stack([np.frombuffer(data, dtype=">f4", offset=_VECTOR_HEADER) for data in rows])
    else:
        matrix = np.stack([from_array_send(data, ">f4") for data in rows])
    matrix = matrix.astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.maximum(norms, 1e-9), dtype=np.float32)


@dataclass(frozen=True)
class Matrix:
    """Vectors and the movie id of each row."""

    ids: npt.NDArray[np.int64]
    vectors: FloatArray

    @classmethod
    def empty(cls) -> Matrix:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32))

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.vectors.nbytes)


@dataclass(frozen=True)
class Ranking:
    """Movie ids, most similar first, and their cosine similarities."""

    ids: npt.NDArray[np.int64]
    similarities: npt.NDArray[np.float32]

    def head(self, count: int) -> Ranking:
        return Ranking(self.ids[:count], self.similarities[:count])

    def __len__(self) -> int:
        return len(self.ids)


def rank(matrix: Matrix, query: FloatArray, top: int | None = None) -> Ranking:
    """The rows of `matrix` most similar to `query` (all, or the `top`), best first, ties by id."""
    if not len(matrix.ids) or matrix.vectors.shape[1] != len(query):
        return Ranking(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    unit = query / max(float(np.linalg.norm(query)), 1e-9)
    similarities = matrix.vectors @ unit.astype(np.float32)
    rows = np.arange(len(similarities))
    if top is not None and top < len(rows):
        # A partial sort: the `top` best in linear time, then only they are ordered.
        rows = np.argpartition(-similarities, top)[:top]
    order = rows[np.lexsort((matrix.ids[rows], -similarities[rows]))]
    return Ranking(matrix.ids[order], similarities[order])


# Sentence vectors per film at most (app/embeddings/text.py) plus the film's own: enough rows to find
# `top` distinct films among the best passages.
ROWS_PER_MOVIE = 9


def best_per_movie(matrix: Matrix, query: FloatArray, top: int | None = None) -> Ranking:
    """Movies scored by their most similar row (a film's best passage), best first (all, or about `top`)."""
    ranked = rank(matrix, query, None if top is None else top * ROWS_PER_MOVIE)
    _, first = np.unique(ranked.ids, return_index=True)  # the first row of each id is its best
    first.sort()
    kept = first if top is None else first[:top]
    return Ranking(ranked.ids[kept], ranked.similarities[kept])


def _stacked(first: Matrix, second: Matrix) -> Matrix:
    """Both matrices' rows in one (either may be empty)."""
    if not len(first.ids):
        return second
    if not len(second.ids):
        return first
    return Matrix(np.concatenate([first.ids, second.ids]), np.vstack([first.vectors, second.vectors]))


class InMemoryVectors:
    """The active generation's film and passage vectors in this process, kept current by a version check."""

    def __init__(self, *, pgvector: bool) -> None:
        self.pgvector = pgvector
        self.films, self.passages = Matrix.empty(), Matrix.empty()
        self._positions: dict[int, int] = {}
        self._version: tuple[int | None, int, datetime | None] | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()
        # Set when a background task keeps the matrices current (the API): requests then never check.
        self.watched = False

    @property
    def nbytes(self) -> int:
        """Memory held by the matrices."""
        return self.films.nbytes + self.passages.nbytes

    async def current(self, conn: asyncpg.Connection) -> InMemoryVectors:
        """Self, reloaded on `conn` first if the stored vectors changed (checked at most every CHECK_EVERY_S)."""
        if self._version is not None and (self.watched or time.monotonic() - self._checked < CHECK_EVERY_S):
            return self
        async with self._lock:
            if self._version is None or time.monotonic() - self._checked >= CHECK_EVERY_S:
                await self._reload_if_changed(conn)
        return self

    async def refresh(self, conn: asyncpg.Connection) -> None:
        """Reload if the stored vectors changed; nothing until something has loaded the matrices once."""
        if self._version is not None:
            async with self._lock:
                await self._reload_if_changed(conn)

    async def _reload_if_changed(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow(VECTORS_VERSION)
        version = (row["generation"], int(row["stored"]), row["newest"])
        old, self._checked = self._version, time.monotonic()
        if version == old:
            return
        started = time.perf_counter()
        # The same generation, newer writes: re-read only them (an embedding run commits a batch every
        # few seconds; re-reading the whole catalogue each time would cost every process seconds of CPU).
        incremental = old is not None and old[0] == version[0] and old[2] is not None and version[2] is not None
        if incremental:
            assert old is not None and old[2] is not None
            await self._read_written_since(conn, old[2] - OVERLAP)
        if not incremental or len(self.films.ids) != version[1]:  # deletions or hand edits: all again
            await self._read_all(conn)
        self._version = version
        log.info(
            "in-process vectors: %d films, %d passages, %.0f MiB, %s in %.2fs",
            len(self.films.ids),
            len(self.passages.ids),
            self.nbytes / 2**20,
            "updated" if incremental else "loaded",
            time.perf_counter() - started,
        )

    def _matrix(self, rows: list[asyncpg.Record]) -> Matrix:
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        return Matrix(ids, parse_vectors([r["data"] for r in rows], pgvector=self.pgvector))

    async def _read_all(self, conn: asyncpg.Connection) -> None:
        self.films = self._matrix(await conn.fetch(FILM_VECTORS[self.pgvector]))
        self.passages = self._matrix(await conn.fetch(PASSAGE_VECTORS[self.pgvector]))
        self._positions = {int(movie): i for i, movie in enumerate(self.films.ids)}

    async def _read_written_since(self, conn: asyncpg.Connection, since: datetime) -> None:
        films = self._matrix(await conn.fetch(FILM_VECTORS_SINCE[self.pgvector], since))
        if not len(films.ids):
            return
        passages = self._matrix(await conn.fetch(PASSAGE_VECTORS_OF[self.pgvector], films.ids.tolist()))
        # New matrices replace the old in one assignment each: a request sees one or the other.
        kept = ~np.isin(self.films.ids, films.ids)
        self.films = _stacked(Matrix(self.films.ids[kept], self.films.vectors[kept]), films)
        kept = ~np.isin(self.passages.ids, films.ids)
        self.passages = _stacked(Matrix(self.passages.ids[kept], self.passages.vectors[kept]), passages)
        self._positions = {int(movie): i for i, movie in enumerate(self.films.ids)}

    def vector_of(self, movie_id: int) -> FloatArray | None:
        """A film's own vector, None when it has none."""
        position = self._positions.get(int(movie_id))
        return None if position is None else self.films.vectors[position]

    def films_like(self, query: FloatArray, top: int | None = None) -> Ranking:
        """Films by similarity of their own vector to the query: all of them, or the `top`."""
        return rank(self.films, query, top)

    def films_by_best_passage(self, query: FloatArray, top: int | None = None) -> Ranking:
        """Films by their best passage's similarity (passage 0 is the film's own vector): all, or about `top`."""
        return best_per_movie(self.passages, query, top)

    @property
    def film_count(self) -> int:
        return len(self.films.ids)
