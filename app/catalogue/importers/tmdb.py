"""TMDB 5000 CSV: tmdb_5000_movies.csv plus, when given or found beside it, tmdb_5000_credits.csv."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.catalogue.importers.pipeline import ParsedRow
from app.catalogue.importers.records import MovieRecord, RowError, clean_names
from app.embeddings.text import MAX_CAST

SOURCE = "tmdb"
CREDITS_NAME = "tmdb_5000_credits.csv"
POSTER_BASE = "https://image.tmdb.org/t/p/w342"

# Overviews and credits run long; the default 128 KiB field cap is too small for some casts.
csv.field_size_limit(min(sys.maxsize, 1 << 30))


def _json_list(value: str, column: str) -> list[Any]:
    if not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise RowError(f"{column} is not valid JSON ({error.msg})") from None
    if not isinstance(parsed, list):
        raise RowError(f"{column} is not a JSON list")
    return parsed


def _names(value: str, column: str) -> tuple[str, ...]:
    return clean_names(item.get("name") for item in _json_list(value, column) if isinstance(item, dict))


def _number(value: str, column: str, kind: type[int] | type[float]) -> Any:
    if not value.strip():
        return None
    try:
        return kind(float(value)) if kind is int else float(value)
    except ValueError:
        raise RowError(f"{column} {value!r} is not a number") from None


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line, row) for each CSV record; quoted fields may span lines."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        start = 2
        for row in reader:
            yield start, row
            start = reader.line_num + 1


def read_credits(path: Path) -> dict[int, tuple[str | None, tuple[str, ...]]]:
    """movie id -> (director, top-billed cast); only the names are kept, not the JSON."""
    credits: dict[int, tuple[str | None, tuple[str, ...]]] = {}
    for _, row in _rows(path):
        try:
            movie_id = int(row["movie_id"])
            cast = sorted(_json_list(row.get("cast") or "", "cast"), key=lambda c: c.get("order", 0))
            crew = _json_list(row.get("crew") or "", "crew")
        except (KeyError, ValueError):
            continue  # a bad credits row only costs that movie its credits
        director = next((c.get("name") for c in crew if c.get("job") == "Director"), None)
        credits[movie_id] = (director, clean_names(c.get("name") for c in cast[:MAX_CAST]))
    return credits


def parse_movie(row: dict[str, str], credits: dict[int, tuple[str | None, tuple[str, ...]]]) -> MovieRecord:
    """One CSV row as a movie record keyed by its TMDB id."""
    try:
        tmdb_id = int(row["id"])
    except (KeyError, TypeError, ValueError):
        raise RowError(f"id {row.get('id')!r} is not an integer") from None
    release = (row.get("release_date") or "").strip()
    year = _number(release[:4], "release_date", int) if release else None
    director, cast = credits.get(tmdb_id, (None, ()))
    poster = (row.get("poster_path") or "").strip()
    return MovieRecord(
        source=SOURCE,
        source_key=str(tmdb_id),
        tmdb_id=tmdb_id,
        imdb_id=(row.get("imdb_id") or "").strip() or None,
        title=(row.get("title") or row.get("original_title") or "").strip(),
        year=year,
        overview=(row.get("overview") or "").strip(),
        genres=_names(row.get("genres") or "", "genres"),
        keywords=_names(row.get("keywords") or "", "keywords"),
        director=director,
        cast=cast,
        vote_average=_number(row.get("vote_average") or "", "vote_average", float),
        vote_count=_number(row.get("vote_count") or "", "vote_count", int),
        popularity=_number(row.get("popularity") or "", "popularity", float),
        poster_url=f"{POSTER_BASE}{poster}" if poster.startswith("/") else None,
    )


def read_tmdb(path: Path, credits_path: Path | None = None) -> Iterator[ParsedRow]:
    """Parse the movies CSV lazily, joining the credits CSV (given, or found beside it)."""
    if credits_path is None and (path.parent / CREDITS_NAME).is_file():
        credits_path = path.parent / CREDITS_NAME
    credits = read_credits(credits_path) if credits_path else {}
    for line, row in _rows(path):
        where = f"{path.name}:{line}"
        try:
            yield where, parse_movie(row, credits)
        except RowError as error:
            yield where, error
