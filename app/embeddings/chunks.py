"""A refresh shared by many workers: one run, planned as chunks of stale movies by id, each chunk a job
on the queue that any worker takes.

Planning takes the embedding lock for a moment (no other run starts meanwhile) and records the run and
its chunks; from then on the run needs no process of its own. A chunk is embedded under an advisory lock
of its own (a chunk the queue delivers twice is embedded once), counts into the run's row batch by batch
(progress is one number), and the chunk that completes the set finishes the run and, for a backfill,
switches generations once the new one covers every movie.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.embeddings.generations import NEXT, SLOTS, slot_coverage
from app.embeddings.model import Embedder
from app.embeddings.pipeline import EmbeddingBusy, embed_range, release_embed_lock, tidy_after_run, try_embed_lock
from app.embeddings.slot_statements import STATEMENTS
from app.embeddings.switch import SwitchOutcome, switch_to_next
from app.settings import Settings

START_SHARED_RUN = """
INSERT INTO embedding_runs (trigger, model, full_run, job_id, slot, chunks) VALUES ($1, $2, $3, $4, $5, 0)
RETURNING id, started_at
"""
ADD_CHUNKS = """
INSERT INTO embedding_run_chunks (run_id, first_id, last_id)
SELECT $1, first_id, last_id FROM unnest($2::bigint[], $3::bigint[]) AS c(first_id, last_id)
"""
SET_PLAN = "UPDATE embedding_runs SET chunks = $2, skipped = $3 WHERE id = $1"
FINISH_EMPTY_RUN = "UPDATE embedding_runs SET status = 'succeeded', finished_at = now() WHERE id = $1"
COUNT_MOVIES = "SELECT count(*) FROM movies"
# The running shared run, if any: a second full refresh joins it instead of starting another.
RUNNING_SHARED_RUN = "SELECT id FROM embedding_runs WHERE status = 'running' AND chunks IS NOT NULL LIMIT 1"

CHUNK = """
SELECT c.first_id, c.last_id, c.done, r.model, r.slot, r.full_run, r.started_at
FROM embedding_run_chunks c JOIN embedding_runs r ON r.id = c.run_id
WHERE c.run_id = $1 AND c.first_id = $2
"""
TRY_CHUNK_LOCK = "SELECT pg_try_advisory_lock($1::int, $2::int)"
RELEASE_CHUNK_LOCK = "SELECT pg_advisory_unlock($1::int, $2::int)"
CHUNK_DONE = """
UPDATE embedding_run_chunks SET done = true, embedded = $3, failed = $4, worker = $5, finished_at = now()
WHERE run_id = $1 AND first_id = $2 AND NOT done
"""
# The last chunk to finish sees chunks_done reach chunks and finishes the run, in the same transaction.
COUNT_DONE = """
UPDATE embedding_runs SET chunks_done = chunks_done + 1 WHERE id = $1 RETURNING chunks_done = chunks AS last
"""
FINISH_SHARED_RUN = """
UPDATE embedding_runs SET status = 'succeeded', finished_at = now(),
    failed = (SELECT coalesce(sum(failed), 0) FROM embedding_run_chunks WHERE run_id = $1)
WHERE id = $1
"""


@dataclass(frozen=True)
class Plan:
    """A shared run and its chunks as (first id, last id)."""

    run_id: int
    chunks: list[tuple[int, int]]


def split(ids: list[int], size: int) -> list[tuple[int, int]]:
    """Consecutive chunks of at most `size` ids, as (first, last)."""
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]


async def plan_shared_run(
    conn: asyncpg.Connection,
    model: str,
    *,
    slot: str = "active",
    full: bool,
    chunk_size: int,
    trigger: str,
    job_id: str | None,
) -> Plan:
    """Record a run and its chunks of stale movies (all of them with `full`) for workers to share."""
    if not await try_embed_lock(conn):
        raise EmbeddingBusy("another embedding run is in progress")
    try:
        if await conn.fetchval(RUNNING_SHARED_RUN) is not None:
            raise EmbeddingBusy("a shared embedding run is in progress")
        async with conn.transaction():
            run = await conn.fetchrow(START_SHARED_RUN, trigger, model, full, job_id, slot)
            cutoff = run["started_at"] if full else None
            ids = [row["id"] for row in await conn.fetch(STATEMENTS[slot].stale_ids, model, cutoff)]
            chunks = split(ids, chunk_size)
            await conn.execute(ADD_CHUNKS, run["id"], [c[0] for c in chunks], [c[1] for c in chunks])
            await conn.execute(SET_PLAN, run["id"], len(chunks), int(await conn.fetchval(COUNT_MOVIES)) - len(ids))
            if not chunks:
                await conn.execute(FINISH_EMPTY_RUN, run["id"])
        return Plan(run["id"], chunks)
    finally:
        await release_embed_lock(conn)


@dataclass(frozen=True)
class ChunkOutcome:
    """What one chunk job did: embedded (None when another worker has it, or it was done), and the run's end."""

    embedded: int | None
    run_finished: bool = False
    switched: SwitchOutcome | None = None


RUN_MODEL = "SELECT model FROM embedding_runs WHERE id = $1"
RUN_EMBEDDED = "SELECT sum(embedded) FROM embedding_run_chunks WHERE run_id = $1"


async def run_model(conn: asyncpg.Connection, run_id: int) -> str | None:
    """The model a run embeds with."""
    model: str | None = await conn.fetchval(RUN_MODEL, run_id)
    return model


def worker_name() -> str:
    """host:pid of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_chunk(
    conn: asyncpg.Connection, embedder: Embedder, settings: Settings, run_id: int, first_id: int
) -> ChunkOutcome:
    """Embed one chunk of a shared run; the chunk that completes the set finishes the run (and switches)."""
    chunk = await conn.fetchrow(CHUNK, run_id, first_id)
    if chunk is None or chunk["done"]:
        return ChunkOutcome(None)
    if not await conn.fetchval(TRY_CHUNK_LOCK, run_id, first_id):
        return ChunkOutcome(None)  # a redelivered chunk whose first delivery is still running
    try:
        cutoff: datetime | None = chunk["started_at"] if chunk["full_run"] else None
        result = await embed_range(
            conn,
            embedder,
            run_id=run_id,
            slot=SLOTS[chunk["slot"]],
            first_id=chunk["first_id"],
            last_id=chunk["last_id"],
            cutoff=cutoff,
            batch_size=settings.embed_batch,
        )
        async with conn.transaction():
            marked = await conn.execute(CHUNK_DONE, run_id, first_id, result.embedded, result.failed, worker_name())
            last = marked.endswith(" 1") and bool(await conn.fetchval(COUNT_DONE, run_id))
            if last:
                await conn.execute(FINISH_SHARED_RUN, run_id)
    finally:
        await conn.execute(RELEASE_CHUNK_LOCK, run_id, first_id)
    if last:
        await tidy_after_run(conn, int(await conn.fetchval(RUN_EMBEDDED, run_id) or 0), SLOTS[chunk["slot"]])
    switched = None
    if last and chunk["slot"] == NEXT.name and (await slot_coverage(conn, NEXT)).complete:
        switched = await switch_to_next(conn, settings)
    return ChunkOutcome(result.embedded, last, switched)
