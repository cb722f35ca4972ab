"""A database without pgvector: which kind this database is, the portable schema's shim, and the one-way
move to pgvector once the server offers it (vectors kept)."""

from __future__ import annotations

from importlib import resources

import asyncpg

PGVECTOR_INSTALLED = "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'vector'"
PGVECTOR_AVAILABLE = "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'vector'"
# The portable schema's `vector` is a domain over real[] (app/db/portable.sql).
PORTABLE_SCHEMA = "SELECT count(*) > 0 FROM pg_type WHERE typname = 'vector' AND typtype = 'd'"

# Every column of the portable type, with the generation that fills it (by slot: movies.<prefix>embedding
# or movie_passages[_<slot>].embedding).
PORTABLE_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name, g.dimension
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
JOIN embedding_generations g ON g.slot = CASE
    WHEN c.relname = 'movies' THEN coalesce(nullif(rtrim(replace(a.attname, 'embedding', ''), '_'), ''), 'active')
    ELSE coalesce(nullif(substr(c.relname, length('movie_passages_') + 1), ''), 'active') END
WHERE a.atttypid = 'movierec_portable_vector'::regtype AND NOT a.attisdropped AND a.attnum > 0
"""
RENAME_PORTABLE_TYPE = "ALTER DOMAIN vector RENAME TO movierec_portable_vector"
CREATE_PGVECTOR = "CREATE EXTENSION vector"
CONVERT_COLUMN = "ALTER TABLE {table} ALTER COLUMN {column} TYPE vector({dimension}) USING {column}::real[]::vector"
DROP_SHIM = """
DROP AGGREGATE sum(movierec_portable_vector);
DROP AGGREGATE avg(movierec_portable_vector);
DROP OPERATOR <=> (real[], real[]);
DROP OPERATOR <#> (real[], real[]);
DROP OPERATOR <-> (real[], real[]);
DROP FUNCTION movierec_vector_add(real[], real[]), movierec_vector_accumulate(real[], real[]),
    movierec_vector_mean(real[]), movierec_cosine_distance(real[], real[]),
    movierec_negative_inner_product(real[], real[]), movierec_l2_distance(real[], real[]), movierec_dot(real[], real[]);
DROP DOMAIN movierec_portable_vector
"""
# The passage index migration 0005 creates on a pgvector database (the films' index: `movierec index`).
PASSAGE_INDEX = "CREATE INDEX movie_passages_embedding_idx ON movie_passages USING hnsw (embedding vector_cosine_ops)"
COUNT_VECTORS = "SELECT count(embedding) FROM movies"


def portable_shim() -> str:
    """The DDL that stands in for pgvector (a `vector` domain over real[] and exact operators)."""
    return (resources.files("app.db") / "portable.sql").read_text(encoding="utf-8")


async def pgvector_installed(conn: asyncpg.Connection) -> bool:
    """Whether this database has the vector extension."""
    return bool(await conn.fetchval(PGVECTOR_INSTALLED))


async def pgvector_available(conn: asyncpg.Connection) -> bool:
    """Whether the server offers the vector extension (installed or installable)."""
    return bool(await conn.fetchval(PGVECTOR_AVAILABLE))


async def is_portable(conn: asyncpg.Connection) -> bool:
    """Whether this database was migrated without pgvector."""
    return bool(await conn.fetchval(PORTABLE_SCHEMA))


async def move_to_pgvector(conn: asyncpg.Connection) -> int:
    """Convert a portable database to pgvector in one transaction, vectors kept; returns the films' vectors kept.

    The caller holds the schema lock. The films' vector index is then built by `movierec index`.
    """
    async with conn.transaction():
        await conn.execute(RENAME_PORTABLE_TYPE)
        await conn.execute(CREATE_PGVECTOR)
        for column in await conn.fetch(PORTABLE_COLUMNS):
            # Identifiers from the catalogue, the dimension an integer from embedding_generations.
            await conn.execute(
                CONVERT_COLUMN.format(
                    table=column["table_name"], column=column["column_name"], dimension=int(column["dimension"])
                )
            )
        await conn.execute(DROP_SHIM)
        await conn.execute(PASSAGE_INDEX)
        kept: int = await conn.fetchval(COUNT_VECTORS)
    return kept
