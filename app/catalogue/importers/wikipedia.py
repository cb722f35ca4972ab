"""Wikipedia movie JSON (prust/wikipedia-movie-data): title, year, cast, genres, href, extract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from app.catalogue.importers.jsonstream import iter_json_objects, open_text
from app.catalogue.importers.pipeline import ParsedRow
from app.catalogue.importers.records import MovieRecord, RowError, clean_names

SOURCE = "wikipedia"


def _year(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RowError(f"year {value!r} is not a number")
    try:
        return int(value)
    except ValueError:
        raise RowError(f"year {value!r} is not a number") from None


def _names(item: dict[str, Any], key: str) -> tuple[str, ...]:
    value = item.get(key) or []
    if not isinstance(value, list):
        raise RowError(f"{key} is not a list")
    return clean_names(value)


def parse_movie(item: Any) -> MovieRecord:
    """One Wikipedia object as a movie record, keyed by article, title and year."""
    if not isinstance(item, dict):
        raise RowError(f"expected an object, found {type(item).__name__}")
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RowError("title is missing")
    year = _year(item.get("year"))
    href = item.get("href")
    article = unquote(href) if isinstance(href, str) and href else ""
    extract = item.get("extract")
    thumbnail = item.get("thumbnail")
    # One article can describe several films (serials) and a title repeats across years,
    # so the key is all three; a row repeating all three is a duplicate listing.
    return MovieRecord(
        source=SOURCE,
        source_key=f"{article}|{title.strip()}|{year or ''}",
        title=title.strip(),
        year=year,
        overview=extract.strip() if isinstance(extract, str) else "",
        genres=_names(item, "genres"),
        cast=_names(item, "cast"),
        poster_url=thumbnail if isinstance(thumbnail, str) and thumbnail.startswith("http") else None,
    )


def read_wikipedia(path: Path) -> Iterator[ParsedRow]:
    """Parse a .json or .json.gz file lazily; a malformed file raises MalformedFile."""
    with open_text(path) as stream:
        for number, (line, item) in enumerate(iter_json_objects(stream, path.name), start=1):
            # Many such files are a single line; the item number finds the row there too.
            where = f"{path.name}:{line} (item {number})"
            try:
                yield where, parse_movie(item)
            except RowError as error:
                yield where, error
