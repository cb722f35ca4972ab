"""MovieLens (ml-latest-small layout): users and ratings, matched onto the existing catalogue."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import asyncpg
from tqdm import tqdm

from app.catalogue.importers.people import upsert_ratings, upsert_users
from app.catalogue.importers.records import ImportSummary

SOURCE = "movielens"
RATINGS_BATCH = 5000

# Everything the matcher needs to match by id or by title and year.
MOVIE_MATCH_KEYS = "SELECT id, tmdb_id, imdb_id, title, year FROM movies"

_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ALTERNATE = re.compile(r"\s*\(([^()]*)\)\s*$")
_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<article>the|a|an|les|la|le|l'|il|el|das|der|die|los|las)$")
_LEADING_ARTICLE = re.compile(r"^(the|a|an) ")


def normalise_title(title: str) -> str:
    """Lower-case ASCII words, trailing articles moved and leading English ones dropped."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower().strip()
    match = _TRAILING_ARTICLE.match(text)
    if match:
        text = f"{match['article']} {match['rest']}"
    text = re.sub(r"[^a-z0-9]+", " ", text.replace("&", " and ")).strip()
    return _LEADING_ARTICLE.sub("", text)


def title_variants(raw: str) -> tuple[list[str], int | None]:
    """MovieLens 'Matrix, The (1999)' -> (['matrix'], 1999), with a.k.a. and original titles."""
    match = _TITLE_YEAR.match(raw.strip())
    title, year = (match["title"], int(match["year"])) if match else (raw.strip(), None)
    names = []
    # "Seven (a.k.a. Se7en)" and "City of Lost Children, The (Cité des enfants perdus, La)".
    while (alt := _ALTERNATE.search(title)) is not None:
        names.append(re.sub(r"^a\.k\.a\. ", "", alt[1]))
        title = title[: alt.start()]
    names.insert(0, title)
    if ":" in title:
        names.append(title.split(":", 1)[0])  # "Star Wars: Episode IV - A New Hope" -> "Star Wars"
    variants = [normalise_title(name) for name in names]
    return [v for i, v in enumerate(variants) if v and v not in variants[:i]], year


@dataclass
class Catalogue:
    """The catalogue's match keys: by external id and by normalised title and year."""

    by_tmdb: dict[int, int] = field(default_factory=dict)
    by_imdb: dict[str, int] = field(default_factory=dict)
    by_title_year: dict[tuple[str, int | None], int] = field(default_factory=dict)

    @classmethod
    async def load(cls, conn: asyncpg.Connection) -> Catalogue:
        """Read every movie's keys (a few MB even for a large catalogue)."""
        catalogue = cls()
        for row in await conn.fetch(MOVIE_MATCH_KEYS):
            if row["tmdb_id"] is not None:
                catalogue.by_tmdb[row["tmdb_id"]] = row["id"]
            if row["imdb_id"] is not None:
                catalogue.by_imdb[row["imdb_id"]] = row["id"]
            # setdefault keeps the lowest id when two films share a title and year.
            catalogue.by_title_year.setdefault((normalise_title(row["title"]), row["year"]), row["id"])
        return catalogue

    def match(self, raw_title: str, link: tuple[str, str] | None) -> int | None:
        """The catalogue id for a MovieLens movie, by tmdb/imdb id first, else by title and year."""
        if link:
            imdb, tmdb = link
            if tmdb.isdigit() and int(tmdb) in self.by_tmdb:
                return self.by_tmdb[int(tmdb)]
            if imdb.isdigit() and f"tt{int(imdb):07d}" in self.by_imdb:
                return self.by_imdb[f"tt{int(imdb):07d}"]
        names, year = title_variants(raw_title)
        # Release years differ by one between sources often enough (festival vs. release).
        for delta in (0, -1, 1):
            for name in names:
                found = self.by_title_year.get((name, year + delta if year else None))
                if found is not None:
                    return found
        return None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row


def read_links(folder: Path) -> dict[str, tuple[str, str]]:
    """movieId -> (imdbId, tmdbId) from links.csv, when the folder has one."""
    path = folder / "links.csv"
    if not path.is_file():
        return {}
    return {
        row["movieId"]: ((row.get("imdbId") or "").strip(), (row.get("tmdbId") or "").strip())
        for _, row in _csv_rows(path)
    }


def parse_rating(value: str) -> Decimal:
    """A 0.5-5.0 star rating in half steps, or ValueError."""
    try:
        rating = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"rating {value!r} is not a number") from None
    if not rating.is_finite() or not Decimal("0.5") <= rating <= 5 or (rating * 2) % 1:
        raise ValueError(f"rating {value!r} is not 0.5-5.0 in steps of 0.5")
    return rating


async def import_movielens(conn: asyncpg.Connection, folder: Path, *, progress: bool = False) -> ImportSummary:
    """Match movies.csv onto the catalogue, then upsert users and ratings of matched movies."""
    catalogue = await Catalogue.load(conn)
    links = read_links(folder)
    summary = ImportSummary()
    matched: dict[str, int] = {}
    movies_seen = 0
    for _, row in _csv_rows(folder / "movies.csv"):
        movies_seen += 1
        found = catalogue.match(row.get("title") or "", links.get(row.get("movieId") or ""))
        if found is not None:
            matched[row["movieId"]] = found
    ratings = _RatingWriter(conn, summary)
    ratings_seen = ratings_matched = 0
    path = folder / "ratings.csv"
    for line, row in tqdm(_csv_rows(path), desc="ratings", unit=" ratings", disable=not progress):
        ratings_seen += 1
        where = f"{path.name}:{line}"
        movie_id = matched.get(row.get("movieId") or "")
        if movie_id is None:
            summary.skip(where, "movie not in the catalogue")
            continue
        try:
            rating = parse_rating(row.get("rating") or "")
            rated_at = datetime.fromtimestamp(int(row.get("timestamp") or "0"), tz=UTC)
            user_key = str(int(row["userId"]))
        except (KeyError, ValueError, OverflowError) as error:
            summary.skip(where, str(error) if isinstance(error, ValueError) else "malformed row")
            continue
        ratings_matched += 1
        await ratings.add(where, user_key, movie_id, rating, rated_at)
    await ratings.flush()
    summary.extra["movies matched"] = _rate(len(matched), movies_seen)
    summary.extra["ratings matched"] = _rate(ratings_matched, ratings_seen)
    summary.extra["users"] = len(ratings.users)
    return summary


def _rate(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.1f}%)" if whole else "0 of 0"


class _RatingWriter:
    """Buffers ratings and writes users and ratings a batch (one transaction) at a time."""

    def __init__(self, conn: asyncpg.Connection, summary: ImportSummary) -> None:
        self.conn, self.summary = conn, summary
        self.users: dict[str, int] = {}
        self.pending: dict[tuple[str, int], tuple[Decimal, datetime]] = {}

    async def add(self, where: str, user_key: str, movie_id: int, rating: Decimal, rated_at: datetime) -> None:
        key = (user_key, movie_id)
        earlier = self.pending.get(key)
        if earlier is not None:
            # Two MovieLens movies matched one catalogue film: the later rating stands.
            self.summary.skip(where, "a second MovieLens movie matched the same film")
            if earlier[1] > rated_at:
                return
        self.pending[key] = (rating, rated_at)
        if len(self.pending) >= RATINGS_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        async with self.conn.transaction():
            new_users = sorted({user for user, _ in self.pending} - self.users.keys(), key=int)
            if new_users:
                names = [f"MovieLens user {key}" for key in new_users]
                self.users.update(await upsert_users(self.conn, SOURCE, new_users, names))
            items = list(self.pending.items())
            inserted, updated = await upsert_ratings(
                self.conn,
                [(self.users[user], movie, rating, rated_at) for (user, movie), (rating, rated_at) in items],
            )
        self.summary.inserted += inserted
        self.summary.updated += updated
        self.summary.unchanged += len(items) - inserted - updated
        self.pending.clear()
