"""Changing the model without downtime: open the next slot, index it concurrently, switch, roll back, prune.

Every change here is catalogue-only DDL in one transaction (adding, renaming or dropping columns and
tables), taken under the schema lock and a short lock_timeout so it never queues the API's reads behind
it for long: a busy table makes it retry instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from app.db.migrate import schema_lock
from app.db.portable import pgvector_installed
from app.embeddings.generations import (
    ACTIVE,
    NEXT,
    PREVIOUS,
    SWAPPING,
    Generation,
    GenerationSpec,
    Slot,
    index_valid,
    load_generations,
    slot_coverage,
)
from app.search.index import BUILD_MEMORY, create_index_statement, drop_index_quietly
from app.settings import Settings

log = logging.getLogger(__name__)

# The renames wait at most this long for the API's short reads to let go of `movies`, then retry.
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '3s'"
LOCK_ATTEMPTS = 10

NEW_GENERATION_ID = "SELECT nextval(pg_get_serial_sequence('embedding_generations', 'id'))"
ADD_NEXT_GENERATION = """
INSERT INTO embedding_generations (id, slot, model, source, encoder, dimension)
OVERRIDING SYSTEM VALUE VALUES ($1, 'next', $2, $3, $4, $5)
"""
FORGET_SLOT = "UPDATE embedding_generations SET slot = NULL WHERE slot = $1"
# Deferred uniqueness lets two generations trade slots in one statement.
PROMOTE_NEXT = """
UPDATE embedding_generations
SET slot = CASE slot WHEN 'active' THEN 'previous' ELSE 'active' END,
    activated_at = CASE slot WHEN 'next' THEN now() ELSE activated_at END
WHERE slot IN ('active', 'next')
"""
RESTORE_PREVIOUS = """
UPDATE embedding_generations
SET slot = CASE slot WHEN 'active' THEN 'previous' ELSE 'active' END,
    activated_at = CASE slot WHEN 'previous' THEN now() ELSE activated_at END
WHERE slot IN ('active', 'previous')
"""
PASSAGE_INDEX = "CREATE INDEX CONCURRENTLY {name} ON {table} USING hnsw (embedding vector_cosine_ops)"
ANALYZE = "ANALYZE movies"


class SwitchRefused(RuntimeError):
    """The switch (or rollback, or prune) cannot happen now; the message says why and what to do."""


def create_slot_ddl(slot: Slot, generation_id: int, dimension: int, *, pgvector: bool = True) -> list[str]:
    """The columns and passages table of an empty slot (constraint names carry the generation: never reused)."""
    name = f"movie_passages_g{int(generation_id)}"
    vector = f"vector({int(dimension)})" if pgvector else "vector"
    return [
        f"ALTER TABLE movies ADD COLUMN {slot.embedding} {vector}, ADD COLUMN {slot.model} text,"
        f" ADD COLUMN {slot.hash} text, ADD COLUMN {slot.at} timestamptz",
        f"""CREATE TABLE {slot.passages} (
    movie_id  bigint NOT NULL,
    ordinal   smallint NOT NULL,
    embedding {vector} NOT NULL,
    CONSTRAINT {name}_pkey PRIMARY KEY (movie_id, ordinal),
    CONSTRAINT {name}_movie_fkey FOREIGN KEY (movie_id) REFERENCES movies (id) ON DELETE CASCADE,
    CONSTRAINT {name}_ordinal_check CHECK (ordinal >= 0)
)""",
    ]


def drop_slot_ddl(slot: Slot) -> list[str]:
    """Drop a slot's columns (their index goes with them) and passages table."""
    drops = ", ".join(f"DROP COLUMN IF EXISTS {column}" for column in slot.columns)
    return [f"ALTER TABLE movies {drops}", f"DROP TABLE IF EXISTS {slot.passages}"]


def rename_slot_ddl(source: Slot, target: Slot) -> list[str]:
    """Move a slot's columns, passages table and indexes to another slot's names."""
    renames = [
        f"ALTER TABLE movies RENAME COLUMN {a} TO {b}" for a, b in zip(source.columns, target.columns, strict=True)
    ]
    return [
        *renames,
        f"ALTER TABLE {source.passages} RENAME TO {target.passages}",
        f"ALTER INDEX IF EXISTS {source.index} RENAME TO {target.index}",
        f"ALTER INDEX IF EXISTS {source.described_index} RENAME TO {target.described_index}",
        f"ALTER INDEX IF EXISTS {source.passage_index} RENAME TO {target.passage_index}",
    ]


async def _ddl(
    conn: asyncpg.Connection, statements: Sequence[str], *args_by_statement: tuple[str, tuple[object, ...]]
) -> None:
    """Run DDL (then bookkeeping statements with arguments) in one transaction, retrying a lock timeout."""
    for attempt in range(LOCK_ATTEMPTS):
        try:
            async with conn.transaction():
                await conn.execute(LOCK_TIMEOUT)
                for statement in statements:
                    await conn.execute(statement)
                for statement, args in args_by_statement:
                    await conn.execute(statement, *args)
            return
        except asyncpg.LockNotAvailableError:
            log.info("movies is busy; retrying the slot change (%d)", attempt + 1)
            await asyncio.sleep(0.2 * (attempt + 1))
    raise SwitchRefused(f"movies stayed locked by other sessions through {LOCK_ATTEMPTS} attempts; try again")


async def prepare_next(conn: asyncpg.Connection, spec: GenerationSpec) -> Generation:
    """The next slot for `spec`: kept if it holds that model already, else (re)created empty."""
    async with schema_lock(conn):
        generations = await load_generations(conn)
        current = generations.get("next")
        if current is not None and (current.model, current.dimension) == (spec.model, spec.dimension):
            return current
        if current is not None:
            log.info("dropping the next generation of %s: %s is configured now", current.model, spec.model)
            await _ddl(conn, drop_slot_ddl(NEXT), (FORGET_SLOT, ("next",)))
        generation_id = int(await conn.fetchval(NEW_GENERATION_ID))
        record = (ADD_NEXT_GENERATION, (generation_id, spec.model, spec.source, spec.encoder, spec.dimension))
        ddl = create_slot_ddl(NEXT, generation_id, spec.dimension, pgvector=await pgvector_installed(conn))
        await _ddl(conn, ddl, record)
        return (await load_generations(conn))["next"]


async def drop_next(conn: asyncpg.Connection) -> Generation | None:
    """Abandon a backfill: the next slot's vectors and its generation go."""
    return await _drop_slot(conn, NEXT)


async def _build(conn: asyncpg.Connection, name: str, statement: str) -> None:
    """Build one index concurrently unless a valid one exists; a failed build's leftover is dropped first."""
    valid = await index_valid(conn, name)
    if valid:
        return
    if valid is False:
        await drop_index_quietly(conn, name)
    await conn.execute(BUILD_MEMORY)
    try:
        await conn.execute(statement)
    except BaseException:
        await drop_index_quietly(conn, name)
        raise


async def build_next_indexes(conn: asyncpg.Connection, settings: Settings) -> None:
    """The next slot's film indexes (all films, described films) and passage index, built concurrently
    while the active ones serve."""
    if not await pgvector_installed(conn):
        return  # no pgvector, no vector index: k-NN reads are exact scans in the API process
    coverage = await slot_coverage(conn, NEXT)
    if settings.index_type == "hnsw" or coverage.stored >= settings.ivfflat_min_rows:
        for name, described_only in ((NEXT.index, False), (NEXT.described_index, True)):
            statement = create_index_statement(
                settings, name, coverage.stored, NEXT.embedding, described_only=described_only
            )
            await _build(conn, name, statement)
    await _build(conn, NEXT.passage_index, PASSAGE_INDEX.format(name=NEXT.passage_index, table=NEXT.passages))


@dataclass(frozen=True)
class SwitchOutcome:
    """The generation now active and the one kept for rollback."""

    active: Generation
    previous: Generation | None
    forced: bool


async def switch_to_next(conn: asyncpg.Connection, settings: Settings, *, force: bool = False) -> SwitchOutcome:
    """Make the next generation active in one transaction once it covers every movie (or when forced)."""
    generations = await load_generations(conn)
    if "next" not in generations:
        raise SwitchRefused("no generation is being backfilled: set MOVIEREC_MODEL and run `movierec embed`")
    coverage = await slot_coverage(conn, NEXT)
    if not coverage.complete and not force:
        raise SwitchRefused(
            f"the next generation covers {coverage.current}/{coverage.total} movies; let the backfill finish "
            "(`movierec embed`) or force it with `movierec generations switch --force`"
        )
    await build_next_indexes(conn, settings)
    async with schema_lock(conn):
        statements = [*drop_slot_ddl(PREVIOUS), *rename_slot_ddl(ACTIVE, PREVIOUS), *rename_slot_ddl(NEXT, ACTIVE)]
        await _ddl(conn, statements, (FORGET_SLOT, ("previous",)), (PROMOTE_NEXT, ()))
    await conn.execute(ANALYZE)
    after = await load_generations(conn)
    log.info("embedding generation %d (%s) is active", after["active"].id, after["active"].model)
    return SwitchOutcome(after["active"], after.get("previous"), forced=not coverage.complete)


async def rollback(conn: asyncpg.Connection) -> SwitchOutcome:
    """Make the previous generation active again (the current one becomes the previous)."""
    async with schema_lock(conn):
        if "previous" not in await load_generations(conn):
            raise SwitchRefused("there is no previous generation to roll back to")
        statements = [
            *rename_slot_ddl(ACTIVE, SWAPPING),
            *rename_slot_ddl(PREVIOUS, ACTIVE),
            *rename_slot_ddl(SWAPPING, PREVIOUS),
        ]
        await _ddl(conn, statements, (RESTORE_PREVIOUS, ()))
    await conn.execute(ANALYZE)
    after = await load_generations(conn)
    return SwitchOutcome(after["active"], after.get("previous"), forced=False)


async def prune_previous(conn: asyncpg.Connection) -> Generation | None:
    """Drop the previous generation's vectors (no rollback after this)."""
    return await _drop_slot(conn, PREVIOUS)


async def _drop_slot(conn: asyncpg.Connection, slot: Slot) -> Generation | None:
    """Drop a slot's vectors and forget its generation, under the schema lock; the generation it held."""
    async with schema_lock(conn):
        held = (await load_generations(conn)).get(slot.name)
        if held is not None:
            await _ddl(conn, drop_slot_ddl(slot), (FORGET_SLOT, (slot.name,)))
        return held
