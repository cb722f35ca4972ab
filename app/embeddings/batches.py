"""Embedding batches: read stale movies, encode them off the event loop, write vectors and passages in binary.

The runs (app/embeddings/pipeline.py: one process under the lock, or a shared run's chunks) drive these.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np
from tqdm import tqdm

from app.db.portable import pgvector_installed
from app.embeddings.generations import Slot
from app.embeddings.model import Embedder
from app.embeddings.slot_statements import STATEMENTS
from app.embeddings.text import content_from_row, embedding_text, passages
from app.vectors import FloatArray

log = logging.getLogger(__name__)

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

# Added per committed batch: the chunks of one run, in several processes, count into the same row.
ADD_RUN_COUNTS = """
UPDATE embedding_runs SET embedded = embedded + $2, failed = failed + $3, title_only = title_only + $4 WHERE id = $1
"""


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


class Batches:
    """One embedding run on one connection: batches in, vectors out, counts kept."""

    def __init__(
        self, conn: asyncpg.Connection, embedder: Embedder, result: EmbedResult, slot: Slot, upto: int | None = None
    ) -> None:
        self.conn, self.embedder, self.result, self.upto = conn, embedder, result, upto
        self.statements = STATEMENTS[slot.name]

    async def fetch(self, after_id: int, cutoff: datetime | None, size: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            self.statements.next_stale_batch, self.embedder.model_name, cutoff, after_id, size, self.upto
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
        failed = len(rows) - len(records)
        title_only = sum(
            1 for row, v in zip(rows, vectors, strict=True) if v is not None and content_from_row(row).title_only
        )
        # The run's counts commit with the vectors: a process killed between the two would leave films
        # embedded that no run counts (a redelivered chunk finds them current and counts nothing).
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(STAGING_TABLE, records=records, columns=STAGING_COLUMNS)
            await self.conn.copy_records_to_table(
                PASSAGE_STAGING_TABLE, records=passage_records, columns=PASSAGE_STAGING_COLUMNS
            )
            await self.conn.execute(self.statements.apply_staging, self.embedder.model_name)
            await self.conn.execute(self.statements.apply_passage_staging)
            await self.conn.execute(ADD_RUN_COUNTS, self.result.run_id, len(records), failed, title_only)
        self.result.embedded += len(records)
        self.result.failed += failed
        self.result.title_only += title_only


async def create_staging(conn: asyncpg.Connection, embedder: Embedder) -> None:
    """This session's staging tables, sized for the embedder."""
    # The portable schema's `vector` (no pgvector) has no size.
    vector = f"vector({int(embedder.dimension)})" if await pgvector_installed(conn) else "vector"
    await conn.execute(CREATE_STAGING.format(vector=vector))
    await conn.execute(CREATE_PASSAGE_STAGING.format(vector=vector))


async def run_batches(
    run: Batches,
    cutoff: datetime | None,
    batch_size: int,
    stale: int,
    progress: bool,
    max_batches: int | None,
    start_after: int = 0,
) -> None:
    # The model encodes batch N in a worker thread while the connection writes batch N-1
    # and reads batch N+1, so the database work hides behind the encoding.
    batches = 0
    with tqdm(total=stale, desc="embedding", unit=" movies", disable=not progress) as bar:
        done: tuple[list[asyncpg.Record], list[Encoded | None]] | None = None
        batch = await run.fetch(start_after, cutoff, batch_size)
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
