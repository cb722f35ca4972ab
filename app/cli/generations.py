"""`movierec generations`: the embedding generations during a model change, and the switch, rollback and prune."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import typer

from app.cli.base import CommandError, cli, database_command
from app.embeddings.generations import generation_statuses
from app.embeddings.switch import SwitchRefused, drop_next, prune_previous, rollback, switch_to_next
from app.settings import Settings

generations_cli = typer.Typer(
    help="Embedding generations: a new model is backfilled beside the serving one, then switched in.",
    invoke_without_command=True,
)
cli.add_typer(generations_cli, name="generations")


@generations_cli.callback()
def _default(context: typer.Context) -> None:
    if context.invoked_subcommand is None:
        status()


@generations_cli.command()
@database_command()
async def status(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Each generation: its slot, model, dimension, coverage and indexes."""
    statuses = await generation_statuses(conn)
    lines = [each.line() for each in statuses]
    active = next(each.generation for each in statuses if each.generation.slot == "active")
    if settings.embedding_model != active.model:
        lines.append(
            f"configured: {settings.embedding_model}, not the active model: `movierec embed` (or the worker) "
            "backfills it and switches when it covers every movie"
        )
    return lines


@generations_cli.command()
@database_command()
async def switch(
    conn: asyncpg.Connection,
    settings: Settings,
    force: Annotated[bool, typer.Option("--force", help="Switch before the backfill covers every movie")] = False,
) -> list[str]:
    """Serve the backfilled generation: its indexes are built concurrently, then one transaction switches."""
    try:
        outcome = await switch_to_next(conn, settings, force=force)
    except SwitchRefused as error:
        raise CommandError(str(error)) from None
    note = " (forced: movies without a vector yet are embedded by the next refresh)" if outcome.forced else ""
    return [f"switched: generation {outcome.active.id} ({outcome.active.model}) serves{note}"]


@generations_cli.command("rollback")
@database_command()
async def rollback_command(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Serve the previous generation again (set MOVIEREC_MODEL back too, or the worker backfills again)."""
    try:
        outcome = await rollback(conn)
    except SwitchRefused as error:
        raise CommandError(str(error)) from None
    return [
        f"rolled back: generation {outcome.active.id} ({outcome.active.model}) serves; "
        f"set MOVIEREC_MODEL={outcome.active.source} MOVIEREC_ENCODER={outcome.active.encoder} to keep it"
    ]


@generations_cli.command()
@database_command()
async def prune(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Drop the previous generation's vectors (no rollback after this)."""
    pruned = await prune_previous(conn)
    return ["no previous generation"] if pruned is None else [f"pruned generation {pruned.id} ({pruned.model})"]


@generations_cli.command()
@database_command()
async def abandon(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Drop a backfill in progress (the next generation) and its vectors."""
    dropped = await drop_next(conn)
    return ["no generation is being backfilled"] if dropped is None else [f"dropped generation {dropped.id}"]
