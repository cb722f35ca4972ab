"""The operations behind the CLI (and the jobs): migrate, import, embed, index, stats, doctor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

import asyncpg

from app.auth import load_secret, mint_token
from app.database import init_connection
from app.embedder import Embedder, load_embedder, model_dimension
from app.embedding import EmbeddingBusy, embed_movies
from app.importers.demo import import_demo
from app.importers.jsonstream import MalformedFile
from app.importers.movielens import import_movielens
from app.importers.pipeline import import_movies
from app.importers.records import ImportSummary
from app.importers.tmdb import read_tmdb
from app.importers.wikipedia import read_wikipedia
from app.migrations import (
    DimensionMismatch,
    check_dimension,
    migrate,
    pending_migrations,
    resize_embedding_column,
)
from app.pages import missing_graphiql_assets
from app.settings import Settings
from app.sql import catalogue as catalogue_sql
from app.stats import Check, collect_stats, run_checks
from app.vector_index import ensure_index

Format = Literal["wikipedia", "tmdb", "movielens", "demo"]


class CommandError(RuntimeError):
    """A failure the user can fix; the message says how."""


async def migrate_database(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Apply pending migrations, then register the vector codec on this connection."""
    applied = await migrate(conn, model_dimension(settings.model))
    await init_connection(conn)
    await _check_dimension(conn, settings)
    if not applied:
        return ["migrations: nothing to do"]
    return [f"migrations: applied {m.version:04d}_{m.name}" for m in applied]


async def _check_dimension(conn: asyncpg.Connection, settings: Settings) -> None:
    try:
        await check_dimension(conn, settings.model, model_dimension(settings.model))
    except DimensionMismatch as error:
        raise CommandError(str(error)) from None


async def require_schema(conn: asyncpg.Connection, settings: Settings) -> None:
    """Refuse to work on an unmigrated database or one whose dimension disagrees with the model."""
    if await pending_migrations(conn):
        raise CommandError("the database schema is not up to date: run `movierec migrate` first")
    await init_connection(conn)
    await _check_dimension(conn, settings)


async def resize(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Resize movies.embedding to the configured model's dimension."""
    dimension = model_dimension(settings.model)
    old = await resize_embedding_column(conn, dimension)
    if old == dimension:
        return [f"movies.embedding is already vector({dimension}): nothing to do"]
    return [
        f"movies.embedding changed from vector({old}) to vector({dimension}); stored embeddings dropped",
        "next: `movierec embed` then `movierec index`",
    ]


async def import_file(
    conn: asyncpg.Connection,
    fmt: Format,
    path: Path | None,
    *,
    credits: Path | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Run one importer; a malformed file stops it with the file and line, earlier batches kept."""
    try:
        if fmt == "wikipedia" and path is not None:
            return await import_movies(conn, read_wikipedia(path), "source_key", progress=progress)
        if fmt == "tmdb" and path is not None:
            return await import_movies(conn, read_tmdb(path, credits), "tmdb_id", progress=progress)
        if fmt == "movielens" and path is not None:
            return await import_movielens(conn, path, progress=progress)
        if fmt == "demo":
            return await import_demo(conn, progress=progress)
    except MalformedFile as error:
        raise CommandError(f"{error}; rows before it were imported, nothing after it") from None
    except (FileNotFoundError, UnicodeDecodeError, KeyError) as error:
        raise CommandError(f"cannot read {path}: {error}") from None
    raise CommandError(f"unknown import format {fmt!r}")


async def load_demo_if_empty(conn: asyncpg.Connection, *, progress: bool = False) -> list[str]:
    """Load the demo catalogue into an empty database; leave a non-empty one alone."""
    if await conn.fetchval(catalogue_sql.COUNT_MOVIES):
        return ["demo catalogue: database not empty, skipped"]
    summary = await import_demo(conn, progress=progress)
    return ["demo catalogue: " + line for line in summary.lines()]


async def embed(
    conn: asyncpg.Connection,
    settings: Settings,
    *,
    full: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
) -> list[str]:
    """Embed stale movies (or all of them) with the configured model."""
    embedder = embedder or load_embedder(settings)
    try:
        result = await embed_movies(conn, embedder, full=full, progress=progress, batch_size=settings.embed_batch)
    except EmbeddingBusy as error:
        raise CommandError(f"{error}; try again when it has finished") from None
    return [
        f"embedding run #{result.run_id}: embedded {result.embedded} ({result.title_only} from a title only), "
        f"already current {result.skipped}, failed {result.failed}, "
        f"{result.seconds:.1f}s ({result.rate:.1f} movies/s)"
    ]


async def build_index(conn: asyncpg.Connection, settings: Settings, *, rebuild: bool = False) -> list[str]:
    """Build, repair or keep the vector index."""
    outcome = await ensure_index(conn, settings, rebuild=rebuild)
    timing = f" in {outcome.seconds:.1f}s" if outcome.seconds else ""
    return [f"index: {outcome.message}{timing}"]


async def stats_lines(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """`movierec stats` output."""
    return (await collect_stats(conn, settings.model)).lines()


_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(ttl: str) -> timedelta:
    """`30m`, `12h`, `7d` (or plain seconds) as a timedelta."""
    text = ttl.strip().lower()
    unit = _TTL_UNITS.get(text[-1:])
    number = text[:-1] if unit else text
    if not number.isdigit() or int(number) <= 0:
        raise CommandError(f"--ttl {ttl!r} is not a duration like 30m, 12h or 7d")
    return timedelta(seconds=int(number) * (unit or 1))


def mint(settings: Settings, user_id: int, *, admin: bool, ttl: str) -> str:
    """A bearer token for `user_id`."""
    return mint_token(load_secret(settings), user_id, admin=admin, ttl=parse_ttl(ttl))


def how_to_call(settings: Settings, host: str, port: int) -> str:
    """What `make run` prints: where the API is and a ready demo token."""
    url = f"http://{host}:{port}/graphql"
    demo = mint(settings, 1, admin=False, ttl="7d")
    sign_in = " (Sign in: pick a demo user)" if settings.demo_sign_in_enabled else ""
    return "\n".join(
        [
            f"web app: http://{host}:{port}/{sign_in}",
            f"GraphQL API: {url}" + ("" if settings.env == "production" else " (open it in a browser for GraphiQL)"),
            "demo token for user 1 (Ana), valid 7 days; paste into GraphiQL's headers as",
            f'  {{"Authorization": "Bearer {demo}"}}',
            "try:",
            f"  curl -s {url} -H 'Content-Type: application/json' \\",
            '    -d \'{"query": "{ similarMovies(movieId: 1, limit: 5) { items { score movie { title year } } } }"}\'',
            "more tokens: .venv/bin/movierec token --user 2 [--admin] [--ttl 12h]",
        ]
    )


async def doctor(conn: asyncpg.Connection, settings: Settings) -> list[Check]:
    """Every health check."""
    if not await pending_migrations(conn):
        await init_connection(conn)
    checks = await run_checks(conn, settings, model_dimension(settings.model))
    if settings.env != "production":
        missing = missing_graphiql_assets()
        detail = "installed" if not missing else f"missing {', '.join(missing)}"
        checks.append(Check("GraphiQL files", not missing, detail, "run `make install` (npm ci in app/web)"))
    return checks
