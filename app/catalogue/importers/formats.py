"""One entry point for every importer, by format name (what `movierec import FORMAT` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import asyncpg

from app.catalogue.importers.demo import import_demo
from app.catalogue.importers.movielens import import_movielens
from app.catalogue.importers.pipeline import import_movies
from app.catalogue.importers.records import ImportSummary
from app.catalogue.importers.tmdb import read_tmdb
from app.catalogue.importers.wikipedia import read_wikipedia

Format = Literal["wikipedia", "tmdb", "movielens", "demo"]


async def import_file(
    conn: asyncpg.Connection, fmt: Format, path: Path | None, *, credits: Path | None = None, progress: bool = False
) -> ImportSummary:
    """Run one importer; a malformed file raises MalformedFile (batches before it stay written)."""
    if fmt == "demo":
        return await import_demo(conn, progress=progress)
    if path is None:
        raise ValueError(f"the {fmt} importer needs a path")
    if fmt == "wikipedia":
        return await import_movies(conn, read_wikipedia(path), "source_key", progress=progress)
    if fmt == "tmdb":
        return await import_movies(conn, read_tmdb(path, credits), "tmdb_id", progress=progress)
    return await import_movielens(conn, path, progress=progress)
