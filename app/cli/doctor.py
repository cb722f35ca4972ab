"""Commands that report: stats, doctor (health checks with fixes) and the offline evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import asyncpg
import typer

from app.cli.base import Output, cli, database_command
from app.db.connections import create_pool, init_connection, resolve_database_url
from app.db.migrate import pending_migrations
from app.embeddings.encoders import Encoders, QueryEncoder
from app.evaluation.search import evaluate_search, search_table
from app.pages import missing_graphiql_assets
from app.search.service import Search
from app.search.session import session_settings
from app.search.vectors import VectorSearch
from app.settings import Settings
from app.status.doctor import Check, run_checks
from app.status.stats import collect_stats


async def doctor_checks(conn: asyncpg.Connection, settings: Settings) -> list[Check]:
    """Every health check, the web app's files included outside production."""
    if not await pending_migrations(conn):
        await init_connection(conn)
    checks = await run_checks(conn, settings)
    if settings.env != "production":
        missing = missing_graphiql_assets()
        detail = "installed" if not missing else f"missing {', '.join(missing)}"
        checks.append(Check("GraphiQL files", not missing, detail, "run `make install` (npm ci in app/web)"))
    return checks


@cli.command()
@database_command()
async def stats(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Coverage, model, dimension, index and the last embedding run."""
    return (await collect_stats(conn)).lines()


@cli.command()
@database_command(migrated=False)
async def doctor(conn: asyncpg.Connection, settings: Settings) -> Output:
    """Check the installation; every FAIL comes with its fix. Exits 1 when anything fails."""
    checks = await doctor_checks(conn, settings)
    return Output([check.line() for check in checks], 0 if all(check.ok for check in checks) else 1)


@cli.command()
@database_command()
async def evaluate(
    conn: asyncpg.Connection,
    settings: Settings,
    k: Annotated[int, typer.Option("--k", help="List length the metrics look at")] = 10,
    relevant_from: Annotated[float, typer.Option(help="A held-out rating this high is relevant")] = 4.0,
    seed: Annotated[int, typer.Option(help="Seed for the random baseline and user sampling")] = 0,
    users: Annotated[int | None, typer.Option(help="Evaluate a random sample of this many users")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON")] = None,
) -> list[str]:
    """Offline evaluation: hold out each user's latest 20% of ratings and score every strategy."""
    # Imported here: the evaluation brings scipy, which no other command needs at start-up.
    from app.evaluation.evaluate import EvaluationConfig, table
    from app.evaluation.evaluate import evaluate as run_evaluation

    config = EvaluationConfig(k=k, relevant_from=relevant_from, seed=seed, max_users=users)
    results = await run_evaluation(conn, settings, config)
    if json_path is not None:
        json_path.write_text(json.dumps({"config": vars(config), "results": results}, indent=2) + "\n")
    return table(results, k)


@cli.command(name="evaluate-search")
@database_command()
async def evaluate_search_command(
    conn: asyncpg.Connection,
    settings: Settings,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON")] = None,
) -> list[str]:
    """Search quality: the labelled queries (app/evaluation/search_queries.json) per mode and class."""
    url = await resolve_database_url(settings)
    pool = await create_pool(url, min_size=1, max_size=2, server_settings=session_settings(settings))
    try:
        encoder = QueryEncoder(pool, Encoders(settings))  # the serving generation's model
        search = Search(pool, settings, VectorSearch(settings, settings_on_connection=True), encoder)
        results = await evaluate_search(search, conn)
    finally:
        await pool.close()
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=1) + "\n")
    skipped = [f"not in this catalogue, left out: {text}" for text in results["unlabelled"]]
    return [*search_table(results), *skipped]
