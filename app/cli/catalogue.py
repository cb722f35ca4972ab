"""Commands that build the catalogue: migrate, import, embed, index, and `setup` that runs them in order."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import asyncpg
import typer

from app.catalogue.dedupe import dedupe as merge_duplicates
from app.catalogue.importers.demo import import_demo
from app.catalogue.importers.formats import Format, import_file
from app.catalogue.importers.jsonstream import MalformedFile
from app.catalogue.movies import count_movies
from app.cli.base import CommandError, check_schema_dimension, cli, database_command, import_cli
from app.db.connections import init_connection
from app.db.migrate import migrate as apply_migrations
from app.db.migrate import schema_lock
from app.db.portable import is_portable, move_to_pgvector, pgvector_available
from app.embeddings.batches import EmbedResult
from app.embeddings.model import Embedder, load_embedder, model_dimension
from app.embeddings.pipeline import EmbeddingBusy
from app.embeddings.refresh import refresh_embeddings
from app.search.index import ensure_index
from app.settings import Settings
from app.status.stats import collect_stats

Existing = Annotated[Path, typer.Argument(exists=True, readable=True, resolve_path=True)]


def _progress() -> bool:
    return sys.stderr.isatty()


async def migrate_database(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Apply pending migrations (a database without pgvector that can have it now moves over), then the codec."""
    applied = await apply_migrations(conn, model_dimension(settings.model), settings.embedding_model)
    lines = [f"migrations: applied {m.version:04d}_{m.name}" for m in applied] or ["migrations: nothing to do"]
    if await is_portable(conn) and await pgvector_available(conn):
        async with schema_lock(conn):
            kept = await move_to_pgvector(conn)
        await init_connection(conn)
        lines.append(f"moved to pgvector: {kept} film vectors kept, passage index built")
        lines += await build_index(conn, settings)
    await init_connection(conn)
    await check_schema_dimension(conn, settings)
    return lines


async def _imported(conn: asyncpg.Connection, fmt: Format, path: Path | None, credits: Path | None = None) -> list[str]:
    """Run one importer; a malformed file stops it with the file and line, earlier batches kept."""
    try:
        return (await import_file(conn, fmt, path, credits=credits, progress=_progress())).lines()
    except MalformedFile as error:
        raise CommandError(f"{error}; rows before it were imported, nothing after it") from None
    except (FileNotFoundError, UnicodeDecodeError, KeyError) as error:
        raise CommandError(f"cannot read {path}: {error}") from None


def _run_line(result: EmbedResult, what: str) -> str:
    return (
        f"{what} run #{result.run_id}: embedded {result.embedded} ({result.title_only} from a title only), "
        f"already current {result.skipped}, failed {result.failed}, "
        f"{result.seconds:.1f}s ({result.rate:.1f} movies/s)"
    )


async def embed_stale(
    conn: asyncpg.Connection, settings: Settings, *, full: bool = False, embedder: Embedder | None = None
) -> list[str]:
    """Embed stale movies (or all of them) for the serving model; backfill and switch to a newly configured one."""
    embedder = embedder or load_embedder(settings)
    try:
        outcome = await refresh_embeddings(conn, embedder, settings, full=full, trigger="cli", progress=_progress())
    except EmbeddingBusy as error:
        raise CommandError(f"{error}; try again when it has finished") from None
    lines = [] if outcome.run is None else [_run_line(outcome.run, "embedding")]
    if outcome.backfill is not None:
        lines.append(_run_line(outcome.backfill, f"new generation ({embedder.model_name}) backfill"))
    if outcome.switched is not None:
        lines.append(f"switched: {outcome.switched.active.model} serves; the previous generation is kept for rollback")
    return lines


async def build_index(conn: asyncpg.Connection, settings: Settings, *, rebuild: bool = False) -> list[str]:
    """Build, repair or keep the vector index."""
    outcome = await ensure_index(conn, settings, rebuild=rebuild)
    timing = f" in {outcome.seconds:.1f}s" if outcome.seconds else ""
    return [f"index: {outcome.message}{timing}"]


@cli.command()
@database_command(migrated=False)
async def migrate(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Apply pending migrations (safe to run concurrently)."""
    return await migrate_database(conn, settings)


@import_cli.command("wikipedia")
@database_command()
async def import_wikipedia(conn: asyncpg.Connection, settings: Settings, path: Existing) -> list[str]:
    """Wikipedia movie JSON (.json or .json.gz), keyed by article, title and year."""
    return await _imported(conn, "wikipedia", path)


@import_cli.command("tmdb")
@database_command()
async def import_tmdb(
    conn: asyncpg.Connection,
    settings: Settings,
    path: Existing,
    credits: Annotated[Path | None, typer.Option(help="tmdb_5000_credits.csv (default: beside PATH)")] = None,
) -> list[str]:
    """TMDB 5000 movies CSV (+ credits CSV), keyed by TMDB id."""
    return await _imported(conn, "tmdb", path, credits)


@import_cli.command("movielens")
@database_command()
async def import_movielens_ratings(conn: asyncpg.Connection, settings: Settings, folder: Existing) -> list[str]:
    """MovieLens ratings (movies.csv, ratings.csv, links.csv), matched onto the catalogue."""
    return await _imported(conn, "movielens", folder)


@import_cli.command("demo")
@database_command()
async def import_demo_catalogue(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """The demo catalogue shipped with movierec, with its demo users and ratings."""
    return await _imported(conn, "demo", None)


@cli.command()
@database_command()
async def embed(
    conn: asyncpg.Connection,
    settings: Settings,
    all_movies: Annotated[bool, typer.Option("--all", help="Re-embed every movie, not only stale ones")] = False,
) -> list[str]:
    """Embed movies whose embedding is missing, out of date, or from another model."""
    return await embed_stale(conn, settings, full=all_movies)


@cli.command()
@database_command()
async def index(
    conn: asyncpg.Connection,
    settings: Settings,
    rebuild: Annotated[bool, typer.Option(help="Rebuild even if the index is current")] = False,
) -> list[str]:
    """Build the vector index concurrently (or repair an invalid one)."""
    return await build_index(conn, settings, rebuild=rebuild)


@cli.command()
@database_command(migrated=False)
async def setup(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Migrate, load the demo catalogue into an empty database, embed, index, print stats."""
    lines = await migrate_database(conn, settings)
    if await count_movies(conn):
        lines.append("demo catalogue: database not empty, skipped")
    else:
        lines += ["demo catalogue: " + line for line in (await import_demo(conn, progress=_progress())).lines()]
    lines += await embed_stale(conn, settings)
    lines += await build_index(conn, settings)
    return lines + (await collect_stats(conn)).lines()


@cli.command()
@database_command()
async def dedupe(
    conn: asyncpg.Connection,
    settings: Settings,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be merged, change nothing")] = False,
) -> list[str]:
    """Merge films stored twice by different sources (ratings and source keys follow the kept film)."""
    return (await merge_duplicates(conn, dry_run=dry_run)).lines()
