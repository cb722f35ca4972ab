"""Commands that run things: the API, the worker, both together; tokens and the database URL."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from datetime import timedelta
from typing import Annotated

import typer

from app.auth import load_secret, mint_token
from app.cli.base import CommandError, cli, connection, run
from app.cli.catalogue import setup
from app.db.connections import resolve_database_url
from app.embeddings.model import resolve_device
from app.settings import Settings, get_settings

_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Host = Annotated[str, typer.Option(help="Interface to listen on")]
Port = Annotated[int, typer.Option(help="Port to listen on")]


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


Workers = Annotated[int, typer.Option(help="API processes (uvicorn workers); each holds its own pool and model")]


@cli.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000, workers: Workers = 1) -> None:
    """Serve the GraphQL API (and GraphiQL outside production) with uvicorn."""
    import uvicorn

    settings = get_settings()

    async def ready() -> list[str]:
        # A named device that is not there: one line now, not a traceback at start-up. `auto` cannot
        # fail, and checking it would import torch into an API that may serve an ONNX generation
        # and never need it (408 against 230 MiB resident).
        if settings.encoder == "torch" and settings.device != "auto":
            resolve_device(settings.device)
        async with connection(settings):
            return [how_to_call(settings, host, port)]

    run(ready)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it shut down on
        # An import string and a factory: with several workers each process builds its own app.
        uvicorn.run(
            "app.server:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=False,
        )


@cli.command()
def worker(check: Annotated[bool, typer.Option(help="Exit 0 if a worker is alive, 1 if not")] = False) -> None:
    """Run the background worker (arq): cron refresh, on-demand refreshes, the outbox."""
    # jobs/ builds on app/, so the CLI reaches it lazily, only for this command.
    from app.queue.redis_server import resolve_redis_url
    from app.queue.runner import run_worker_class, worker_health
    from jobs.worker import WorkerSettings

    if get_settings().encoder == "torch":
        resolve_device(get_settings().device)
    resolve_redis_url(get_settings())  # starts the embedded Redis when REDIS_URL is unset
    if check:
        raise typer.Exit(worker_health(WorkerSettings))
    run_worker_class(WorkerSettings)


@cli.command()
def up(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Set up (as `setup`), then run the worker and the API together; Ctrl-C stops both."""
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

    async def work() -> list[str]:
        return [mint(get_settings(), user, admin=is_admin, ttl=ttl)]

    run(work)


@cli.command("database-url")
def database_url() -> None:
    """Print the database URL in use (starting the embedded server if needed)."""

    async def work() -> list[str]:
        return [await resolve_database_url(get_settings())]

    run(work)
