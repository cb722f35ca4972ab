"""Versioned migrations (app/db/migrations/*.sql) applied in order under an advisory lock; the dimension check."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

import asyncpg

from app.db.portable import is_portable, pgvector_available, portable_shim
from app.settings import BUNDLED_MODEL

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# An arbitrary, fixed key: every `movierec migrate` (and resize) serialises on it.
MIGRATION_LOCK_KEY = 7_361_044_201
TAKE_MIGRATION_LOCK = "SELECT pg_advisory_lock($1)"
RELEASE_MIGRATION_LOCK = "SELECT pg_advisory_unlock($1)"

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED_VERSIONS = "SELECT version FROM schema_migrations ORDER BY version"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"
MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"

# format_type shows the typmod (vector(384)); information_schema hides it as USER-DEFINED.
EMBEDDING_COLUMN_TYPE = """
SELECT format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass('movies') AND a.attname = 'embedding' AND NOT a.attisdropped
"""
VECTOR_EXTENSION_VERSION = "SELECT extversion FROM pg_extension WHERE extname = 'vector'"

CREATE_PGVECTOR = "CREATE EXTENSION IF NOT EXISTS vector;"
# The serving generation's size (app/embeddings/generations.py keeps the slots).
ACTIVE_GENERATION_SIZE = "SELECT model, dimension FROM embedding_generations WHERE slot = 'active'"


@dataclass(frozen=True)
class Migration:
    """One numbered DDL file from app/db/migrations."""

    version: int
    name: str
    template: str

    def render(self, dimension: int, model: str = BUNDLED_MODEL, *, pgvector: bool = True) -> str:
        """The DDL with the embedding dimension and the configured model (a quoted literal) filled in.

        Without pgvector, the extension is replaced by the portable shim (a `vector` domain over real[],
        which has no size), and vector indexes are left out: k-NN reads run in the API process.
        """
        # A plain replace, not string.Template: DDL may contain `$` (regexes, dollar quoting).
        literal = "'" + model.replace("'", "''") + "'"
        ddl = self.template
        if not pgvector:
            ddl = ddl.replace(CREATE_PGVECTOR, portable_shim()).replace("vector(${dimension})", "vector")
            ddl = "\n".join(line for line in ddl.splitlines() if " USING hnsw " not in line)
        return ddl.replace("${dimension}", str(int(dimension))).replace("${model}", literal)


class DimensionMismatch(RuntimeError):
    """The database's vector column and the configured model disagree on the dimension."""


def load_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    folder = resources.files("app.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return found


@asynccontextmanager
async def schema_lock(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Hold the session-level advisory lock that serialises schema changes."""
    await conn.execute(TAKE_MIGRATION_LOCK, MIGRATION_LOCK_KEY)
    try:
        yield
    finally:
        await conn.execute(RELEASE_MIGRATION_LOCK, MIGRATION_LOCK_KEY)


async def migrate(
    conn: asyncpg.Connection, dimension: int, model: str = BUNDLED_MODEL, *, pgvector: bool | None = None
) -> list[Migration]:
    """Apply pending migrations for a `dimension`-sized `model` (as stored beside each vector).

    A new database uses pgvector when the server offers it (`pgvector=False`: the portable schema
    anyway); an existing one keeps the kind it was created as. A concurrent caller waits, then finds
    nothing to do.
    """
    applied_now: list[Migration] = []
    async with schema_lock(conn):
        await conn.execute(CREATE_MIGRATIONS_TABLE)
        applied = {row["version"] for row in await conn.fetch(APPLIED_VERSIONS)}
        if applied:
            pgvector = not await is_portable(conn)
        elif pgvector is None:
            pgvector = await pgvector_available(conn)
        for migration in load_migrations():
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.render(dimension, model, pgvector=pgvector))
                await conn.execute(RECORD_MIGRATION, migration.version, migration.name)
            applied_now.append(migration)
    return applied_now


async def pending_migrations(conn: asyncpg.Connection) -> list[Migration]:
    """Migrations not yet applied to this database."""
    applied: set[int] = set()
    if await conn.fetchval(MIGRATIONS_TABLE_EXISTS):
        applied = {row["version"] for row in await conn.fetch(APPLIED_VERSIONS)}
    return [m for m in load_migrations() if m.version not in applied]


_VECTOR_TYPE = re.compile(r"^vector\((\d+)\)$")


async def vector_extension_version(conn: asyncpg.Connection) -> str | None:
    """pgvector's version in this database, None when the extension is not installed."""
    version: str | None = await conn.fetchval(VECTOR_EXTENSION_VERSION)
    return version


async def column_dimension(conn: asyncpg.Connection) -> int | None:
    """The dimension of movies.embedding, or None when the table does not exist yet."""
    column_type = await conn.fetchval(EMBEDDING_COLUMN_TYPE)
    if column_type is None:
        return None
    if column_type == "vector":  # the portable schema's domain: its size is the active generation's
        return await active_generation_dimension(conn)
    match = _VECTOR_TYPE.match(column_type)
    if not match:
        raise DimensionMismatch(f"movies.embedding has type {column_type}, expected vector(N)")
    return int(match[1])


async def active_generation_dimension(conn: asyncpg.Connection) -> int | None:
    """The size of the active generation's vectors; None before migration 0007."""
    row = await conn.fetchrow(ACTIVE_GENERATION_SIZE)
    return None if row is None else int(row["dimension"])


async def check_dimension(conn: asyncpg.Connection) -> None:
    """Refuse to go on when the serving vectors' column and the active generation disagree on the size.

    A configured model of another size is not a mismatch: it is a new generation, backfilled beside the
    active one (`movierec embed`). Only a column changed by hand gets here.
    """
    stored = await column_dimension(conn)
    active = await conn.fetchrow(ACTIVE_GENERATION_SIZE)
    if stored is not None and active is not None and stored != active["dimension"]:
        raise DimensionMismatch(
            f"movies.embedding holds {stored}-dimensional vectors but the active generation's model "
            f"{active['model']!r} makes {active['dimension']}-dimensional ones; the column was changed outside "
            "movierec: restore it, or set MOVIEREC_MODEL and run `movierec embed` to build a new generation"
        )
