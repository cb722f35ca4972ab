"""What every command shares: the Typer apps, one wrapper that opens a connection and reports, errors."""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import typer

from app.db.connections import connect, init_connection, resolve_database_url
from app.db.migrate import DimensionMismatch, check_dimension, pending_migrations
from app.settings import Settings, get_settings

cli = typer.Typer(
    help="movierec: movie recommendations by meaning.", no_args_is_help=True, pretty_exceptions_enable=False
)
import_cli = typer.Typer(help="Import movies or ratings (idempotent upserts).", no_args_is_help=True)
cli.add_typer(import_cli, name="import")


class CommandError(RuntimeError):
    """A failure the user can fix; the message says how."""


@dataclass(frozen=True)
class Output:
    """What a command prints, and its exit status."""

    lines: list[str] = field(default_factory=list)
    exit_code: int = 0


async def check_schema_dimension(conn: asyncpg.Connection, settings: Settings) -> None:
    """The active generation's dimension against the column's, as a CommandError that names the fix."""
    try:
        await check_dimension(conn)
    except DimensionMismatch as error:
        raise CommandError(str(error)) from None


async def require_schema(conn: asyncpg.Connection, settings: Settings) -> None:
    """Refuse to work on an unmigrated database or one whose dimension disagrees with the model."""
    if await pending_migrations(conn):
        raise CommandError("the database schema is not up to date: run `movierec migrate` first")
    await init_connection(conn)
    await check_schema_dimension(conn, settings)


@asynccontextmanager
async def connection(settings: Settings, *, migrated: bool = True) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the configured (or embedded) database; `migrated` checks the schema first."""
    conn = await connect(await resolve_database_url(settings), vector=False)
    try:
        if migrated:
            await require_schema(conn, settings)
        yield conn
    finally:
        await conn.close()


def run(work: Callable[[], Coroutine[Any, Any, Output | list[str]]]) -> None:
    """Run a command's coroutine and print its lines; a user-fixable error is one red line and exit 1."""
    try:
        result = asyncio.run(work())
    except CommandError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    output = result if isinstance(result, Output) else Output(result)
    for line in output.lines:
        typer.echo(line)
    if output.exit_code:
        raise typer.Exit(output.exit_code)


Work = Callable[..., Awaitable[Output | list[str]]]


def database_command(*, migrated: bool = True) -> Callable[[Work], Callable[..., None]]:
    """Turn `async def work(conn, settings, **options)` into a Typer command with the same options."""

    def decorate(work: Work) -> Callable[..., None]:
        # The command's own options, without conn and settings, with their annotations resolved
        # (this package uses postponed annotations; Typer reads Annotated[..., typer.Option] from them).
        hints = typing.get_type_hints(work, include_extras=True)
        options = [p.replace(annotation=hints[p.name]) for p in list(inspect.signature(work).parameters.values())[2:]]

        @functools.wraps(work)
        def command(**values: Any) -> None:
            async def go() -> Output | list[str]:
                settings = get_settings()
                async with connection(settings, migrated=migrated) as conn:
                    return await work(conn, settings, **values)

            run(go)

        command.__signature__ = inspect.Signature(options)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in options}
        return command

    return decorate
