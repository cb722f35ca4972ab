"""Small catalogues written through the real importer pipeline, for tests that need some movies."""

from __future__ import annotations

import asyncpg

from app.catalogue.importers.pipeline import import_movies
from app.catalogue.importers.records import MovieRecord


async def seed_movies(conn: asyncpg.Connection, count: int, *, prefix: str = "Film", title_only: bool = False) -> None:
    """`count` movies "<prefix> i" (source key "<prefix>i"), a third without genres; `title_only` adds a bare one."""
    records = [
        MovieRecord(
            title=f"{prefix} {i}",
            year=2000 + i % 20,
            overview=f"Overview number {i}.",
            source="t",
            source_key=f"{prefix}{i}",
            genres=("Drama",) if i % 3 else (),
        )
        for i in range(count)
    ]
    if title_only:
        records.append(MovieRecord(title="Only A Title", source="t", source_key="bare"))
    await import_movies(conn, [("seed", r) for r in records], "source_key")
