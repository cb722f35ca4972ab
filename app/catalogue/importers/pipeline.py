"""Drive an importer: stream parsed rows, drop duplicates, write in batches, show progress.

Parsing and validating rows is Python work and writing a batch is the database's: the next batch is
read in a thread while the current one is written, so the two overlap instead of taking turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import asyncpg
from tqdm import tqdm

from app.catalogue.importers.matching import PreparedBatch, write_movies
from app.catalogue.importers.records import BATCH_SIZE, Conflict, ImportSummary, MovieRecord, RowError

# What a parser yields: where the row came from ("file:line") and the record or why it is bad.
ParsedRow = tuple[str, MovieRecord | RowError]


def natural_key(record: MovieRecord, conflict: Conflict) -> str:
    """The key a row is upserted by: its TMDB id or its (source, source key)."""
    if conflict == "tmdb_id":
        return str(record.tmdb_id)
    return f"{record.source}\x1f{record.source_key}"


@dataclass
class _Skipped:
    """A row left out while reading, reported to the summary by the writing side (in order)."""

    where: str
    reason: str


@dataclass
class _BatchReader:
    """The next batch of good, first-seen rows, each with its prepared values; None at the end."""

    rows: Iterator[ParsedRow]
    conflict: Conflict
    bar: tqdm  # type: ignore[type-arg]
    first_seen: dict[str, str] = field(default_factory=dict)

    def next(self) -> tuple[PreparedBatch | None, list[_Skipped]]:
        records: list[MovieRecord] = []
        skipped: list[_Skipped] = []
        for where, parsed in self.rows:
            self.bar.update(1)
            if isinstance(parsed, RowError):
                skipped.append(_Skipped(where, str(parsed)))
                continue
            key = natural_key(parsed, self.conflict)
            if key in self.first_seen:
                skipped.append(_Skipped(f"{where} (first at {self.first_seen[key]})", "duplicate of an earlier row"))
                continue
            self.first_seen[key] = where
            records.append(parsed)
            if len(records) >= BATCH_SIZE:
                break
        return (PreparedBatch.of(records) if records else None), skipped


async def import_movies(
    conn: asyncpg.Connection,
    rows: Iterable[ParsedRow],
    conflict: Conflict,
    *,
    progress: bool = False,
    description: str = "importing",
) -> ImportSummary:
    """Upsert every good row, batch by batch; a bad row is skipped with its reason and place.

    A file that cannot be read further (MalformedFile) raises after every batch before it is written.
    """
    summary = ImportSummary()
    with tqdm(desc=description, unit=" movies", disable=not progress) as bar:
        reader = _BatchReader(iter(rows), conflict, bar)
        reading = asyncio.ensure_future(asyncio.to_thread(reader.next))
        try:
            while True:
                batch, skipped = await reading
                for skip in skipped:
                    summary.skip(skip.where, skip.reason)
                if batch is None:
                    break
                reading = asyncio.ensure_future(asyncio.to_thread(reader.next))
                await write_movies(conn, batch, summary)
        finally:
            # A failed write leaves the thread reading one batch ahead: let it finish (threads cannot
            # be cancelled) so the file is not read by two threads, and drop what it read.
            if not reading.done():
                await asyncio.wait([reading])
            if reading.done() and not reading.cancelled():
                reading.exception()  # retrieved: an error behind the write's is not the one to report
    return summary
