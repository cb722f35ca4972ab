"""`movierec train`: train the collaborative model now (or roll back to the previous one)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import typer

from app.cli.base import CommandError, cli, database_command
from app.recs.models import load_active_model
from app.recs.training import TooFewRatings, TrainingBusy, roll_back, train_recommender
from app.settings import Settings


@cli.command()
@database_command()
async def train(
    conn: asyncpg.Connection,
    settings: Settings,
    rollback: Annotated[bool, typer.Option("--rollback", help="Serve the previous model again instead")] = False,
) -> list[str]:
    """Train the collaborative model on every stored rating and publish it (the previous one is kept)."""
    if rollback:
        if await roll_back(conn) is None:
            raise CommandError("there is no previous model to roll back to")
        active = await load_active_model(conn)
        assert active is not None
        return [f"rolled back: model {active['id']} (trained {active['finished_at']:%Y-%m-%d %H:%M}) serves again"]
    try:
        result = await train_recommender(conn, settings)
    except TrainingBusy as error:
        raise CommandError(f"{error}; try again when it has finished") from None
    except TooFewRatings as error:
        raise CommandError(f"{error}. The current model, if any, keeps serving.") from None
    return [
        f"model {result.model_id}: {result.ratings} ratings by {result.users} users, {result.movies} movies, "
        f"{result.weights} weights, {result.seconds:.1f}s, peak RSS {result.peak_rss_mb:.0f} MiB; now serving"
    ]
