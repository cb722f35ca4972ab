"""The embedding pipeline: find stale movies, encode them off the event loop, write vectors in binary."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np
from tqdm import tqdm

from app.embedder import Embedder, Vectors
from app.movie_text import MovieContent, embedding_text
from app.sql import embedding as sql

log = logging.getLogger(__name__)


# Movies per committed batch. Larger batches pad less (the model sorts each batch by length)
# and amortise the write; an interruption loses at most one batch of work.
EMBED_BATCH = 512


class EmbeddingBusy(RuntimeError):
    """Another embedding run holds the lock."""


@dataclass
class EmbedResult:
    """What one run did."""

    run_id: int
    embedded: int = 0
    skipped: int = 0
    failed: int = 0
    title_only: int = 0
    seconds: float = 0.0
    status: str = "running"

    @property
    def rate(self) -> float:
        """Movies embedded per second of wall time."""
        return self.embedded / self.seconds if self.seconds else 0.0


def _content(row: asyncpg.Record) -> MovieContent:
    return MovieContent(
        title=row["title"],
        year=row["year"],
        overview=row["overview"],
        genres=row["genres"],
        keywords=row["keywords"],
        director=row["director"],
        cast=row["cast_members"],
    )


def _encode_each(embedder: Embedder, texts: Sequence[str]) -> list[Vectors | None]:
    """Fallback after a failed batch: encode one by one so one bad text costs only itself."""
    out: list[Vectors | None] = []
    for text in texts:
        try:
            out.append(embedder.encode([text])[0])
        except Exception:
            log.exception("could not embed %r", text[:80])
            out.append(None)
    return out


class _Run:
    """One embedding run on one connection: batches in, vectors out, counts kept."""

    def __init__(self, conn: asyncpg.Connection, embedder: Embedder, result: EmbedResult) -> None:
        self.conn, self.embedder, self.result = conn, embedder, result

    async def fetch(self, after_id: int, cutoff: datetime | None, size: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            sql.NEXT_STALE_BATCH, self.embedder.model_name, cutoff, after_id, size
        )
        return rows

    async def encode(self, rows: Sequence[asyncpg.Record]) -> list[Vectors | None]:
        texts = [embedding_text(_content(row)) for row in rows]
        try:
            vectors = await asyncio.to_thread(self.embedder.encode, texts)
            return list(vectors)
        except Exception:
            log.warning("a batch of %d failed to encode; retrying one by one", len(texts))
            return await asyncio.to_thread(_encode_each, self.embedder, texts)

    async def write(self, rows: Sequence[asyncpg.Record], vectors: Sequence[Vectors | None]) -> None:
        records = [
            (row["id"], np.asarray(vector, dtype=np.float32), row["content_hash"])
            for row, vector in zip(rows, vectors, strict=True)
            if vector is not None
        ]
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(sql.STAGING_TABLE, records=records, columns=sql.STAGING_COLUMNS)
            await self.conn.execute(sql.APPLY_STAGING, self.embedder.model_name)
        self.result.embedded += len(records)
        self.result.failed += len(rows) - len(records)
        self.result.title_only += sum(
            1 for row, v in zip(rows, vectors, strict=True) if v is not None and _content(row).title_only
        )
        await self.conn.execute(
            sql.UPDATE_RUN_COUNTS,
            self.result.run_id,
            self.result.embedded,
            self.result.skipped,
            self.result.failed,
            self.result.title_only,
        )


async def embed_movies(
    conn: asyncpg.Connection,
    embedder: Embedder,
    *,
    full: bool = False,
    batch_size: int = EMBED_BATCH,
    trigger: str = "cli",
    progress: bool = False,
    max_batches: int | None = None,
    job_id: str | None = None,
) -> EmbedResult:
    """Embed every stale movie (all of them with `full`), one committed batch at a time."""
    if not await conn.fetchval(sql.TRY_EMBED_LOCK, sql.EMBED_LOCK_KEY):
        raise EmbeddingBusy("another embedding run is in progress")
    try:
        await conn.execute(sql.MARK_ABANDONED_RUNS)
        run = await conn.fetchrow(sql.START_RUN, trigger, embedder.model_name, full, job_id)
        result = EmbedResult(run_id=run["id"])
        cutoff = run["started_at"] if full else None
        await conn.execute(sql.CREATE_STAGING.format(dimension=int(embedder.dimension)))
        counts = await conn.fetchrow(sql.COUNT_STALE, embedder.model_name, cutoff)
        result.skipped = counts["total"] - counts["stale"]
        started = time.perf_counter()
        try:
            await _pipeline(_Run(conn, embedder, result), cutoff, batch_size, counts["stale"], progress, max_batches)
            result.status = "succeeded"
            error = None
        except BaseException as exc:  # also Ctrl-C and task cancellation: record, then re-raise
            result.status = "failed" if isinstance(exc, Exception) else "interrupted"
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            result.seconds = time.perf_counter() - started
            await asyncio.shield(
                conn.execute(
                    sql.FINISH_RUN,
                    result.run_id,
                    result.status,
                    result.embedded,
                    result.skipped,
                    result.failed,
                    result.title_only,
                    error,
                )
            )
        return result
    finally:
        await conn.execute(sql.RELEASE_EMBED_LOCK, sql.EMBED_LOCK_KEY)


async def _pipeline(
    run: _Run, cutoff: datetime | None, batch_size: int, stale: int, progress: bool, max_batches: int | None
) -> None:
    # The model encodes batch N in a worker thread while the connection writes batch N-1
    # and reads batch N+1, so the database work hides behind the encoding.
    batches = 0
    with tqdm(total=stale, desc="embedding", unit=" movies", disable=not progress) as bar:
        done: tuple[list[asyncpg.Record], list[Vectors | None]] | None = None
        batch = await run.fetch(0, cutoff, batch_size)
        while batch:
            encoding = asyncio.ensure_future(run.encode(batch))
            try:
                if done is not None:
                    await run.write(*done)
                    bar.update(len(done[0]))
                batches += 1
                more = max_batches is None or batches < max_batches
                upcoming = await run.fetch(batch[-1]["id"], cutoff, batch_size) if more else []
                done = (batch, await encoding)
            finally:
                if not encoding.done():
                    encoding.cancel()
            batch = upcoming
        if done is not None:
            await run.write(*done)
            bar.update(len(done[0]))
