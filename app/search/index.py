"""The vector index on movies.embedding: HNSW or IVFFlat, built concurrently, checked for validity."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import asyncpg

from app.db.portable import pgvector_installed
from app.settings import Metric, Settings

INDEX_NAME = "movies_embedding_idx"
# Similar-movie lists leave thin records (only a title) out by default. Their title-only vectors crowd
# each other's neighbourhoods, so from a thin film a filtered scan of the whole index walks far for its
# first described films (p90 ~9 ms against ~2). A partial index over the described films serves those
# lists with nothing to filter; PostgreSQL picks it when the statement's filter says `has_overview`.
DESCRIBED_INDEX_NAME = "movies_embedding_described_idx"
DESCRIBED_ONLY = "has_overview"
INDEX_NAMES = (INDEX_NAME, DESCRIBED_INDEX_NAME)
_BUILDING = {name: f"{name}_new" for name in INDEX_NAMES}
OPCLASS: dict[Metric, str] = {
    "cosine": "vector_cosine_ops",
    "l2": "vector_l2_ops",
    "inner_product": "vector_ip_ops",
}

DESCRIBE_INDEX = """
SELECT c.relname AS name, am.amname AS method, opc.opcname AS opclass, i.indisvalid AS valid,
       pg_relation_size(c.oid) AS size_bytes, coalesce(c.reloptions, '{}') AS options
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
JOIN pg_opclass opc ON opc.oid = i.indclass[0]
WHERE i.indrelid = to_regclass('movies') AND c.relname = ANY($1::text[])
ORDER BY c.relname
"""

COUNT_EMBEDDED = "SELECT count(*) FROM movies WHERE embedding IS NOT NULL"

# Index names and parameters are identifiers and literals PostgreSQL cannot bind; the caller
# formats them from a fixed allow-list and validated integers only.
CREATE_HNSW = """
CREATE INDEX CONCURRENTLY {name} ON movies USING hnsw ({column} {opclass})
WITH (m = {m}, ef_construction = {ef_construction}){where}
"""

CREATE_IVFFLAT = """
CREATE INDEX CONCURRENTLY {name} ON movies USING ivfflat ({column} {opclass}) WITH (lists = {lists}){where}
"""

DROP_INDEX = "DROP INDEX CONCURRENTLY IF EXISTS {name}"
RENAME_INDEX = "ALTER INDEX {old} RENAME TO {new}"
ANALYZE_MOVIES = "ANALYZE movies"

# Building HNSW is memory-hungry; give this one session room so the graph fits in memory.
BUILD_MEMORY = "SET maintenance_work_mem = '1GB'"

RECORD_INDEX_BUILD = "INSERT INTO vector_index_builds (method, rows) VALUES ($1, $2)"

# How many vectors were written since the index was last built, out of how many.
CHANGED_SINCE_INDEX_BUILD = """
SELECT count(*) FILTER (WHERE embedded_at > coalesce((SELECT max(built_at) FROM vector_index_builds), '-infinity'))
           AS changed,
       count(*) AS total
FROM movies WHERE embedding IS NOT NULL
"""


@dataclass(frozen=True)
class IndexInfo:
    """An index on movies.embedding as PostgreSQL describes it."""

    name: str
    method: str
    opclass: str
    valid: bool
    size_bytes: int
    options: dict[str, str]


@dataclass(frozen=True)
class IndexOutcome:
    """What `ensure_index` did and why."""

    action: str  # built, rebuilt, kept, skipped
    message: str
    info: IndexInfo | None
    seconds: float = 0.0


def ivfflat_lists(rows: int) -> int:
    """pgvector's guidance: rows / 1000 up to a million rows, sqrt(rows) above."""
    return max(1, rows // 1000 if rows <= 1_000_000 else int(math.sqrt(rows)))


def ivfflat_probes(settings: Settings, lists: int) -> int:
    """The configured probes, else sqrt(lists)."""
    return settings.ivfflat_probes or max(1, round(math.sqrt(lists)))


async def describe_indexes(conn: asyncpg.Connection) -> list[IndexInfo]:
    """The films' two vector indexes and any half-built replacement."""
    rows = await conn.fetch(DESCRIBE_INDEX, [*INDEX_NAMES, *_BUILDING.values()])
    return [
        IndexInfo(
            name=row["name"],
            method=row["method"],
            opclass=row["opclass"],
            valid=row["valid"],
            size_bytes=row["size_bytes"],
            options=dict(option.split("=", 1) for option in row["options"]),
        )
        for row in rows
    ]


async def describe_index(conn: asyncpg.Connection) -> IndexInfo | None:
    """The vector index, if there is one."""
    return next((info for info in await describe_indexes(conn) if info.name == INDEX_NAME), None)


def _matches(info: IndexInfo, settings: Settings) -> bool:
    if info.method != settings.index_type or info.opclass != OPCLASS[settings.index_metric]:
        return False
    if info.method == "hnsw":
        return info.options.get("m") == str(settings.hnsw_m) and info.options.get("ef_construction") == str(
            settings.hnsw_ef_construction
        )
    return settings.ivfflat_lists is None or info.options.get("lists") == str(settings.ivfflat_lists)


def create_index_statement(
    settings: Settings, name: str, rows: int, column: str = "embedding", *, described_only: bool = False
) -> str:
    """CREATE INDEX CONCURRENTLY for a vector column of movies, as the settings describe the index.

    `described_only`: the partial index over films with an overview (DESCRIBED_INDEX_NAME's).
    """
    opclass = OPCLASS[settings.index_metric]
    where = f" WHERE {DESCRIBED_ONLY}" if described_only else ""
    if settings.index_type == "hnsw":
        return CREATE_HNSW.format(
            name=name,
            column=column,
            opclass=opclass,
            m=int(settings.hnsw_m),
            ef_construction=int(settings.hnsw_ef_construction),
            where=where,
        )
    lists = int(settings.ivfflat_lists or ivfflat_lists(rows))
    return CREATE_IVFFLAT.format(name=name, column=column, opclass=opclass, lists=lists, where=where)


async def ensure_index(conn: asyncpg.Connection, settings: Settings, *, rebuild: bool = False) -> IndexOutcome:
    """Make the films' two indexes match the settings; an invalid one (a failed build) is dropped and rebuilt."""
    if not await pgvector_installed(conn):
        await conn.execute(ANALYZE_MOVIES)
        return IndexOutcome("skipped", "no pgvector in this database: exact k-NN in the API process, no index", None)
    notes: list[str] = []
    for info in await describe_indexes(conn):
        if not info.valid or info.name in _BUILDING.values():
            await conn.execute(DROP_INDEX.format(name=info.name))
            notes.append(f"dropped invalid index {info.name} left by a failed build")
    current = {info.name: info for info in await describe_indexes(conn)}
    rows = int(await conn.fetchval(COUNT_EMBEDDED))
    stale = [name for name in INDEX_NAMES if rebuild or name not in current or not _matches(current[name], settings)]
    if not stale:
        info = current[INDEX_NAME]
        return IndexOutcome("kept", "; ".join([*notes, f"{info.method} indexes are valid and current"]), info)
    if settings.index_type == "ivfflat" and rows < settings.ivfflat_min_rows:
        # IVFFlat learns its lists from the rows present: on a small table recall collapses.
        for name in current:
            await conn.execute(DROP_INDEX.format(name=name))
        message = (
            f"only {rows} embedded movies; IVFFlat is built from {settings.ivfflat_min_rows} "
            "(MOVIEREC_IVFFLAT_MIN_ROWS) and queries use the exact scan until then"
        )
        return IndexOutcome("skipped", "; ".join([*notes, message]), None)
    started = time.perf_counter()
    await conn.execute(BUILD_MEMORY)
    for name in stale:
        await _build_in_place(conn, settings, name, rows, replacing=name in current)
    await conn.execute(ANALYZE_MOVIES)
    await conn.execute(RECORD_INDEX_BUILD, settings.index_type, rows)
    built = await describe_index(conn)
    if built is None or not built.valid:
        raise RuntimeError(f"the {settings.index_type} index build finished but the index is not valid")
    action = "rebuilt" if any(name in current for name in stale) else "built"
    which = "indexes" if len(stale) == 2 else "index of described films" if INDEX_NAME not in stale else "index"
    message = f"{action} {built.method} {which} over {rows} vectors"
    return IndexOutcome(action, "; ".join([*notes, message]), built, time.perf_counter() - started)


async def _build_in_place(
    conn: asyncpg.Connection, settings: Settings, name: str, rows: int, *, replacing: bool
) -> None:
    """Build one of the films' indexes; a replacement is built beside the old one and swapped in."""
    building = _BUILDING[name] if replacing else name
    statement = create_index_statement(settings, building, rows, described_only=name == DESCRIBED_INDEX_NAME)
    try:
        await conn.execute(statement)
    except BaseException:
        # CREATE INDEX CONCURRENTLY leaves an invalid index behind when it fails.
        await drop_index_quietly(conn, building)
        raise
    if replacing:
        # Swap: queries use the old index until the new one is valid and in place.
        await conn.execute(DROP_INDEX.format(name=name))
        await conn.execute(RENAME_INDEX.format(old=building, new=name))


async def changed_since_build(conn: asyncpg.Connection) -> float:
    """The share of stored vectors written since the index was last built (0 when there are none)."""
    counts = await conn.fetchrow(CHANGED_SINCE_INDEX_BUILD)
    return float(counts["changed"] / counts["total"]) if counts["total"] else 0.0


async def drop_index_quietly(conn: asyncpg.Connection, name: str) -> None:
    """Drop a half-built index, ignoring a connection that is already gone."""
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        await conn.execute(DROP_INDEX.format(name=name))
