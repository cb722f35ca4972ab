"""Drive an importer: stream parsed rows, drop duplicates, write in batches, show progress."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from tqdm import tqdm

from app.catalogue.importers.matching import write_movies
from app.catalogue.importers.records import BATCH_SIZE, Conflict, ImportSummary, MovieRecord, RowError

# What a parser yields: where the row came from ("file:line") and the record or why it is bad.
ParsedRow = tuple[str, MovieRecord | RowError]


def natural_key(record: MovieRecord, conflict: Conflict) -> str:
    """The key a row is upserted by: its TMDB id or its (source, source key)."""
    if conflict == "tmdb_id":
        return str(record.tmdb_id)
    return f"{record.source}\x1f{record.source_key}"


async def import_movies(
    conn: asyncpg.Connection,
    rows: Iterable[ParsedRow],
    conflict: Conflict,
    *,
    progress: bool = False,
    description: str = "importing",
) -> ImportSummary:
    """Upsert every good row, batch by batch; a bad row is skipped with its reason and place."""
    summary = ImportSummary()
    first_seen: dict[str, str] = {}
    batch: list[MovieRecord] = []
    with tqdm(desc=description, unit=" movies", disable=not progress) as bar:
        for where, parsed in rows:
            bar.update(1)
            if isinstance(parsed, RowError):
                summary.skip(where, str(parsed))
                continue
            key = natural_key(parsed, conflict)
            if key in first_seen:
                summary.skip(f"{where} (first at {first_seen[key]})", "duplicate of an earlier row")
                continue
            first_seen[key] = where
            batch.append(parsed)
            if len(batch) >= BATCH_SIZE:
                await write_movies(conn, batch, summary)
                batch = []
        await write_movies(conn, batch, summary)
    return summary
