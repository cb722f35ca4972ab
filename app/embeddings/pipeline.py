"""Embedding runs: one process under the embedding lock (`embed_movies`), or a shared run's chunk (`embed_range`)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

import asyncpg

from app.embeddings.batches import Batches, EmbedResult, create_staging, run_batches
from app.embeddings.generations import ACTIVE, Slot, active_generation, adopt_if_empty, spec_from_model_name
from app.embeddings.model import Embedder
from app.embeddings.recipe import rehash_if_recipe_changed
from app.embeddings.slot_statements import STATEMENTS

log = logging.getLogger(__name__)

# Held for the whole run on the pipeline's connection: two refreshes never run at once.
EMBED_LOCK_KEY = 7_361_044_202
TRY_EMBED_LOCK = "SELECT pg_try_advisory_lock($1)"
RELEASE_EMBED_LOCK = "SELECT pg_advisory_unlock($1)"


START_RUN = """
INSERT INTO embedding_runs (trigger, model, full_run, job_id) VALUES ($1, $2, $3, $4)
RETURNING id, started_at
"""

SET_RUN_SKIPPED = "UPDATE embedding_runs SET skipped = $2 WHERE id = $1"

FINISH_RUN = """
UPDATE embedding_runs
SET status = $2, finished_at = now(), embedded = $3, skipped = $4, failed = $5, title_only = $6, error = $7
WHERE id = $1
"""

# A run left 'running' by a process that died is no longer running once the lock is free (a chunked
# run is not held by one process: its last chunk finishes it).
MARK_ABANDONED_RUNS = """
UPDATE embedding_runs SET status = 'interrupted', finished_at = now(),
    error = coalesce(error, 'the process running it stopped before it finished')
WHERE status = 'running' AND chunks IS NULL
"""


# A run writes each film's full-text document with its vector, so one that rewrote many films leaves
# a dead version of each row and a long pending list in the full-text index; until autovacuum comes
# by, every word search reads through them (1.87 against 0.18 ms p50 on the 2010s slice right after
# `embed --all`). The run clears them itself (0.3 s there) once it has written this many films.
VACUUM_AFTER = 1_000
VACUUM_WRITTEN = "VACUUM (ANALYZE) movies, {passages}"


async def tidy_after_run(conn: asyncpg.Connection, written: int, slot: Slot) -> bool:
    """Vacuum and analyze the films and the slot's passages after a run that wrote at least VACUUM_AFTER films."""
    if written < VACUUM_AFTER:
        return False
    started = time.perf_counter()
    try:  # outside any transaction: the run's batches are committed
        await conn.execute(VACUUM_WRITTEN.format(passages=slot.passages))
    except asyncpg.PostgresError as error:  # the run itself succeeded; autovacuum will come by
        log.warning("could not vacuum after the run (%s); autovacuum will", error)
        return False
    log.info("vacuumed movies and %s after %d films in %.1fs", slot.passages, written, time.perf_counter() - started)
    return True


# Movies per committed batch. Larger batches pad less (the model sorts each batch by length)
# and amortise the write; an interruption loses at most one batch of work.
EMBED_BATCH = 512


async def try_embed_lock(conn: asyncpg.Connection) -> bool:
    """Take the embedding lock on this session if it is free (no other run starts meanwhile)."""
    return bool(await conn.fetchval(TRY_EMBED_LOCK, EMBED_LOCK_KEY))


async def release_embed_lock(conn: asyncpg.Connection) -> None:
    """Let the embedding lock go."""
    await conn.execute(RELEASE_EMBED_LOCK, EMBED_LOCK_KEY)


class EmbeddingBusy(RuntimeError):
    """Another embedding run holds the lock."""


class GenerationMismatch(RuntimeError):
    """Vectors of one model were about to be written into another model's generation."""


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
        await create_staging(conn, embedder)
        counts = await conn.fetchrow(STATEMENTS[slot.name].count_stale, embedder.model_name, cutoff)
        result.skipped = counts["total"] - counts["stale"]
        await conn.execute(SET_RUN_SKIPPED, result.run_id, result.skipped)
        started = time.perf_counter()
        try:
            await run_batches(
                Batches(conn, embedder, result, slot), cutoff, batch_size, counts["stale"], progress, max_batches
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
        await tidy_after_run(conn, result.embedded, slot)
        return result
    finally:
        await conn.execute(RELEASE_EMBED_LOCK, EMBED_LOCK_KEY)


async def embed_range(
    conn: asyncpg.Connection,
    embedder: Embedder,
    *,
    run_id: int,
    slot: Slot,
    first_id: int,
    last_id: int,
    cutoff: datetime | None,
    batch_size: int = EMBED_BATCH,
) -> EmbedResult:
    """One chunk of a shared run: the stale movies with ids in [first_id, last_id], counted into its row."""
    await create_staging(conn, embedder)
    result = EmbedResult(run_id=run_id)
    started = time.perf_counter()
    run = Batches(conn, embedder, result, slot, upto=last_id)
    await run_batches(run, cutoff, batch_size, 0, False, None, start_after=first_id - 1)
    result.seconds, result.status = time.perf_counter() - started, "succeeded"
    return result
