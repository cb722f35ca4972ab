"""The demo catalogue shipped with movierec: well-known films and a few demo users with ratings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg

from app.catalogue.importers.jsonstream import iter_json_objects
from app.catalogue.importers.movielens import parse_rating
from app.catalogue.importers.people import upsert_ratings, upsert_users
from app.catalogue.importers.pipeline import ParsedRow, import_movies
from app.catalogue.importers.records import ImportSummary, MovieRecord, RowError, clean_names

SOURCE = "demo"
# Demo ratings carry a fixed date so re-importing changes nothing.
DEMO_RATED_AT = datetime(2025, 1, 1, tzinfo=UTC)

MOVIE_IDS_BY_TMDB_IDS = "SELECT tmdb_id, id FROM movies WHERE tmdb_id = ANY($1::integer[])"


def _demo_file(name: str) -> Path:
    return Path(str(resources.files("app.catalogue.demo") / name))


def parse_movie(item: Any) -> MovieRecord:
    """One demo entry as a movie record keyed by its TMDB id."""
    if not isinstance(item, dict) or not isinstance(item.get("tmdb_id"), int):
        raise RowError("expected an object with an integer tmdb_id")
    return MovieRecord(
        source=SOURCE,
        source_key=str(item["tmdb_id"]),
        tmdb_id=item["tmdb_id"],
        title=str(item.get("title") or ""),
        year=item.get("year"),
        overview=str(item.get("overview") or ""),
        genres=clean_names(item.get("genres") or []),
        director=item.get("director") or None,
        cast=clean_names(item.get("cast") or []),
    )


def read_demo_movies(path: Path | None = None) -> Iterator[ParsedRow]:
    """The shipped movies.jsonl (or another file in its format)."""
    path = path or _demo_file("movies.jsonl")
    with path.open(encoding="utf-8") as stream:
        for line, item in iter_json_objects(stream, path.name):
            try:
                yield f"{path.name}:{line}", parse_movie(item)
            except RowError as error:
                yield f"{path.name}:{line}", error


async def import_demo(conn: asyncpg.Connection, *, progress: bool = False) -> ImportSummary:
    """Upsert the demo movies, then the demo users and their ratings."""
    summary = await import_movies(conn, read_demo_movies(), "tmdb_id", progress=progress, description="demo")
    users = json.loads(_demo_file("users.json").read_text(encoding="utf-8"))
    tmdb_ids = sorted({int(key) for user in users for key in user["ratings"]})
    async with conn.transaction():
        movie_ids = dict(await conn.fetch(MOVIE_IDS_BY_TMDB_IDS, tmdb_ids))
        user_ids = await upsert_users(conn, SOURCE, [u["key"] for u in users], [u["name"] for u in users])
        ratings: list[tuple[int, int, Decimal, datetime]] = [
            (user_ids[user["key"]], movie_ids[int(tmdb)], parse_rating(str(value)), DEMO_RATED_AT)
            for user in users
            for tmdb, value in user["ratings"].items()
        ]
        await upsert_ratings(conn, ratings)
    summary.extra["demo users"] = ", ".join(f"{u['key']} (id {user_ids[u['key']]})" for u in users)
    summary.extra["demo ratings"] = len(ratings)
    return summary
