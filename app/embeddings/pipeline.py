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

from app.db.portable import pgvector_installed
from app.embeddings.generations import ACTIVE, Slot, active_generation, adopt_if_empty, spec_from_model_name
from app.embeddings.model import Embedder
from app.embeddings.recipe import rehash_if_recipe_changed
from app.embeddings.slot_statements import STATEMENTS
from app.embeddings.text import content_from_row, embedding_text, passages
from app.vectors import FloatArray

log = logging.getLogger(__name__)

# Held for the whole run on the pipeline's connection: two refreshes never run at once.
EMBED_LOCK_KEY = 7_361_044_202
TRY_EMBED_LOCK = "SELECT pg_try_advisory_lock($1)"
RELEASE_EMBED_LOCK = "SELECT pg_advisory_unlock($1)"


# Dropped first: one session may stage vectors of two generations' sizes in turn.
CREATE_STAGING = """
DROP TABLE IF EXISTS embedding_staging;
CREATE TEMP TABLE embedding_staging (
    id bigint PRIMARY KEY,
    embedding {vector} NOT NULL,
    content_hash text NOT NULL
) ON COMMIT DELETE ROWS
"""

CREATE_PASSAGE_STAGING = """
DROP TABLE IF EXISTS passage_staging;
CREATE TEMP TABLE passage_staging (
    movie_id bigint NOT NULL,
    ordinal smallint NOT NULL,
    embedding {vector} NOT NULL
) ON COMMIT DELETE ROWS
"""

STAGING_TABLE = "embedding_staging"
STAGING_COLUMNS = ("id", "embedding", "content_hash")
PASSAGE_STAGING_TABLE = "passage_staging"
PASSAGE_STAGING_COLUMNS = ("movie_id", "ordinal", "embedding")

START_RUN = """
INSERT INTO embedding_runs (trigger, model, full_run, job_id) VALUES ($1, $2, $3, $4)
RETURNING id, started_at
"""

UPDATE_RUN_COUNTS = """
UPDATE embedding_runs SET embedded = $2, skipped = $3, failed = $4, title_only = $5 WHERE id = $1
"""

FINISH_RUN = """
UPDATE embedding_runs
SET status = $2, finished_at = now(), embedded = $3, skipped = $4, failed = $5, title_only = $6, error = $7
WHERE id = $1
"""

# A run left 'running' by a process that died is no longer running once the lock is free.
MARK_ABANDONED_RUNS = """
UPDATE embedding_runs SET status = 'interrupted', finished_at = now(),
    error = coalesce(error, 'the process running it stopped before it finished')
WHERE status = 'running'
"""


# Movies per committed batch. Larger batches pad less (the model sorts each batch by length)
# and amortise the write; an interruption loses at most one batch of work.
EMBED_BATCH = 512


class EmbeddingBusy(RuntimeError):
    """Another embedding run holds the lock."""


class GenerationMismatch(RuntimeError):
    """Vectors of one model were about to be written into another model's generation."""


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


@dataclass(frozen=True)
class Encoded:
    """A movie's vector and its passages' vectors."""

    film: FloatArray
    passages: list[FloatArray]


def _encode_each(embedder: Embedder, texts: Sequence[str]) -> list[FloatArray | None]:
    """Fallback after a failed batch: encode one by one so one bad text costs only itself."""
    out: list[FloatArray | None] = []
    for text in texts:
        try:
            out.append(embedder.encode([text])[0])
        except Exception:
            log.exception("could not embed %r", text[:80])
            out.append(None)
    return out


class _Run:
    """One embedding run on one connection: batches in, vectors out, counts kept."""

    def __init__(self, conn: asyncpg.Connection, embedder: Embedder, result: EmbedResult, slot: Slot) -> None:
        self.conn, self.embedder, self.result = conn, embedder, result
        self.statements = STATEMENTS[slot.name]

    async def fetch(self, after_id: int, cutoff: datetime | None, size: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            self.statements.next_stale_batch, self.embedder.model_name, cutoff, after_id, size
        )
        return rows

    async def encode(self, rows: Sequence[asyncpg.Record]) -> list[Encoded | None]:
        """Each movie's vector and its passages' vectors; None for a movie whose text would not encode."""
        contents = [content_from_row(row) for row in rows]
        pieces = [passages(content) for content in contents]
        # One call for films and passages: the model sorts by length, so mixing them pads little.
        texts = [embedding_text(content) for content in contents] + [p for each in pieces for p in each]
        try:
            vectors: list[FloatArray | None] = list(await asyncio.to_thread(self.embedder.encode, texts))
        except Exception:
            log.warning("a batch of %d texts failed to encode; retrying one by one", len(texts))
            vectors = await asyncio.to_thread(_encode_each, self.embedder, texts)
        out: list[Encoded | None] = []
        cursor = len(contents)
        for i, each in enumerate(pieces):
            parts = vectors[cursor : cursor + len(each)]
            cursor += len(each)
            film = vectors[i]
            out.append(None if film is None else Encoded(film, [v for v in parts if v is not None]))
        return out

    async def write(self, rows: Sequence[asyncpg.Record], vectors: Sequence[Encoded | None]) -> None:
        records = [
            (row["id"], np.asarray(encoded.film, dtype=np.float32), row["content_hash"])
            for row, encoded in zip(rows, vectors, strict=True)
            if encoded is not None
        ]
        # Passage 0 is the film's own vector: meaning search scans one index for films and sentences.
        passage_records = [
            (row["id"], ordinal, np.asarray(vector, dtype=np.float32))
            for row, encoded in zip(rows, vectors, strict=True)
            if encoded is not None
            for ordinal, vector in enumerate([encoded.film, *encoded.passages])
        ]
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(STAGING_TABLE, records=records, columns=STAGING_COLUMNS)
            await self.conn.copy_records_to_table(
                PASSAGE_STAGING_TABLE, records=passage_records, columns=PASSAGE_STAGING_COLUMNS
            )
            await self.conn.execute(self.statements.apply_staging, self.embedder.model_name)
            await self.conn.execute(self.statements.apply_passage_staging)
        self.result.embedded += len(records)
        self.result.failed += len(rows) - len(records)
        self.result.title_only += sum(
            1 for row, v in zip(rows, vectors, strict=True) if v is not None and content_from_row(row).title_only
        )
        await self.conn.execute(
            UPDATE_RUN_COUNTS,
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
    slot: Slot = ACTIVE,
) -> EmbedResult:
    """Embed every stale movie of a generation slot (all of them with `full`), one committed batch at a time."""
    if not await conn.fetchval(TRY_EMBED_LOCK, EMBED_LOCK_KEY):
        raise EmbeddingBusy("another embedding run is in progress")
    try:
        await conn.execute(MARK_ABANDONED_RUNS)
        if slot is ACTIVE:
            await adopt_if_empty(conn, spec_from_model_name(embedder.model_name, embedder.dimension))
            active = await active_generation(conn)
            if active.model != embedder.model_name:
                raise GenerationMismatch(
                    f"the active generation's vectors are {active.model}'s; {embedder.model_name}'s are a new "
                    "generation, backfilled beside them by `movierec embed` or the worker (refresh_embeddings)"
                )
        rehashed = await rehash_if_recipe_changed(conn)
        if rehashed:
            log.info("the embedding recipe changed: %d movies will be re-embedded", rehashed)
        run = await conn.fetchrow(START_RUN, trigger, embedder.model_name, full, job_id)
        result = EmbedResult(run_id=run["id"])
        cutoff = run["started_at"] if full else None
        # The portable schema's `vector` (no pgvector) has no size.
        vector = f"vector({int(embedder.dimension)})" if await pgvector_installed(conn) else "vector"
        await conn.execute(CREATE_STAGING.format(vector=vector))
        await conn.execute(CREATE_PASSAGE_STAGING.format(vector=vector))
        counts = await conn.fetchrow(STATEMENTS[slot.name].count_stale, embedder.model_name, cutoff)
        result.skipped = counts["total"] - counts["stale"]
        started = time.perf_counter()
        try:
            await _pipeline(
                _Run(conn, embedder, result, slot), cutoff, batch_size, counts["stale"], progress, max_batches
            )
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
                    FINISH_RUN,
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
        await conn.execute(RELEASE_EMBED_LOCK, EMBED_LOCK_KEY)


async def _pipeline(
    run: _Run, cutoff: datetime | None, batch_size: int, stale: int, progress: bool, max_batches: int | None
) -> None:
    # The model encodes batch N in a worker thread while the connection writes batch N-1
    # and reads batch N+1, so the database work hides behind the encoding.
    batches = 0
    with tqdm(total=stale, desc="embedding", unit=" movies", disable=not progress) as bar:
        done: tuple[list[asyncpg.Record], list[Encoded | None]] | None = None
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
