"""What every importer shares: the movie record, its validation, the summary, the batch writer."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from app.embeddings.text import MovieContent, content_hash

BATCH_SIZE = 1000
_IMDB_ID = re.compile(r"tt\d{1,12}")
# Limits per field (characters, and entries for lists): within PostgreSQL's index row size, and far
# above any real film's.
MAX_TEXT = {"title": 1_000, "director": 200, "overview": 20_000, "poster_url": 2_000}
MAX_NAME = {"genres": 60, "keywords": 100, "cast": 200}
MAX_ENTRIES = {"genres": 20, "keywords": 50, "cast": 100}


class RowError(ValueError):
    """A row that cannot be imported; the message says why."""


@dataclass(frozen=True)
class MovieRecord:
    """One movie as an importer read it, validated, with where it came from."""

    title: str
    source: str | None = None
    source_key: str | None = None
    tmdb_id: int | None = None
    imdb_id: str | None = None
    year: int | None = None
    overview: str = ""
    genres: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    director: str | None = None
    vote_average: float | None = None
    vote_count: int | None = None
    popularity: float | None = None
    poster_url: str | None = None

    def __post_init__(self) -> None:
        if not self.title or not self.title.strip():
            raise RowError("title is missing")
        if self.year is not None and not 1870 <= self.year <= 2100:
            raise RowError(f"year {self.year} is out of range")
        if self.tmdb_id is not None and self.tmdb_id <= 0:
            raise RowError(f"tmdb id {self.tmdb_id} is not positive")
        if self.imdb_id is not None and not _IMDB_ID.fullmatch(self.imdb_id):
            raise RowError(f"imdb id {self.imdb_id[:40]!r} is not of the form tt1234567")
        self._check_sizes()
        if self.vote_average is not None and not (0 <= self.vote_average <= 10):
            raise RowError(f"vote average {self.vote_average} is outside 0-10")
        for name in ("vote_count", "popularity"):
            value = getattr(self, name)
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise RowError(f"{name.replace('_', ' ')} {value} is invalid")

    def _check_sizes(self) -> None:
        """Every text within its limit, valid Unicode, without NUL (PostgreSQL refuses those)."""
        for name, limit in MAX_TEXT.items():
            _check_text(name, getattr(self, name), limit)
        for name, limit in MAX_NAME.items():
            values = getattr(self, name)
            if len(values) > MAX_ENTRIES[name]:
                raise RowError(f"{name} has {len(values)} entries; at most {MAX_ENTRIES[name]}")
            for value in values:
                _check_text(name, value, limit)

    @property
    def content(self) -> MovieContent:
        """The fields the embedding is built from."""
        return MovieContent(
            title=self.title,
            year=self.year,
            overview=self.overview,
            genres=self.genres,
            keywords=self.keywords,
            director=self.director,
            cast=self.cast,
        )

    def as_row(self) -> dict[str, Any]:
        """The record as the upsert's jsonb recordset expects it."""
        return {
            "source": self.source,
            "source_key": self.source_key,
            "tmdb_id": self.tmdb_id,
            "imdb_id": self.imdb_id,
            "title": self.title.strip(),
            "year": self.year,
            "overview": self.overview.strip(),
            "genres": list(self.genres),
            "keywords": list(self.keywords),
            "cast_members": list(self.cast),
            "director": self.director,
            "vote_average": self.vote_average,
            "vote_count": self.vote_count,
            "popularity": self.popularity,
            "poster_url": self.poster_url,
            "content_hash": content_hash(self.content),
        }


def _check_text(name: str, value: str | None, limit: int) -> None:
    if value is None:
        return
    if len(value) > limit:
        raise RowError(f"{name} is longer than {limit:,} characters")
    if "\x00" in value:
        raise RowError(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{name} is not valid Unicode") from None


def clean_names(values: Iterable[Any]) -> tuple[str, ...]:
    """Strings only, stripped, empty and duplicate entries dropped, order kept."""
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str):
            name = value.strip()
            # Scraped lists sometimes hold stray punctuation such as ")".
            if name and any(ch.isalnum() for ch in name):
                seen.setdefault(name, None)
    return tuple(seen)


@dataclass
class ImportSummary:
    """What an import did, row by row, and why it skipped what it skipped."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    merged: int = 0  # of the updated and unchanged: records another source's film took in
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    MAX_EXAMPLES = 20

    def skip(self, where: str, reason: str) -> None:
        """Count a skipped row; keep the first few messages verbatim."""
        self.skipped += 1
        self.reasons[reason] += 1
        if len(self.examples) < self.MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}")

    @property
    def total(self) -> int:
        """Every row seen."""
        return self.inserted + self.updated + self.unchanged + self.skipped

    def lines(self) -> list[str]:
        """A human-readable report."""
        out = [
            f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {self.skipped} (of {self.total})"
        ]
        if self.merged:
            out.append(f"  merged {self.merged} into films another source had already imported")
        out += [f"  skipped {count}: {reason}" for reason, count in self.reasons.most_common()]
        out += [f"  e.g. {example}" for example in self.examples[:5]]
        out += [f"{key}: {value}" for key, value in self.extra.items()]
        return out


Conflict = Literal["source_key", "tmdb_id"]


def batched(items: Iterable[MovieRecord], size: int = BATCH_SIZE) -> Iterator[list[MovieRecord]]:
    """Consecutive lists of at most `size` items."""
    batch: list[MovieRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
