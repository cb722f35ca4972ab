"""The embedding recipe: which of a movie's fields become the text the model reads."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# all-MiniLM-L6-v2 reads 256 word pieces and drops the rest. The short, structured fields
# come first so truncation only ever trims the end of a long overview; the caps below keep
# a typical movie well inside the window (about 1.3 word pieces per English word).
MAX_CAST = 6
MAX_KEYWORDS = 12
MAX_OVERVIEW_WORDS = 150
# "2": each overview sentence also gets a passage vector (movie_passages).
RECIPE_VERSION = "2"


@dataclass(frozen=True)
class MovieContent:
    """The fields of a movie that its embedding depends on."""

    title: str
    year: int | None = None
    overview: str = ""
    genres: Sequence[str] = field(default_factory=tuple)
    keywords: Sequence[str] = field(default_factory=tuple)
    director: str | None = None
    cast: Sequence[str] = field(default_factory=tuple)

    @property
    def title_only(self) -> bool:
        """True when nothing but the title (and year) describes the movie."""
        return not (self.overview.strip() or self.genres or self.keywords or self.director or self.cast)


def content_from_row(row: Mapping[str, Any]) -> MovieContent:
    """A stored movie's content (a row with the movies table's column names)."""
    return MovieContent(
        title=row["title"],
        year=row["year"],
        overview=row["overview"],
        genres=row["genres"],
        keywords=row["keywords"],
        director=row["director"],
        cast=row["cast_members"],
    )


def _clip_words(text: str, limit: int) -> str:
    words = text.split()
    if len(words) <= limit:
        return " ".join(words)
    return " ".join(words[:limit]) + " …"


def embedding_text(movie: MovieContent) -> str:
    """Title (year). Genres. Director. Cast. Keywords. Overview — as one paragraph."""
    parts = [f"{movie.title.strip()} ({movie.year})" if movie.year else movie.title.strip()]
    if movie.genres:
        parts.append("Genres: " + ", ".join(movie.genres))
    if movie.director:
        parts.append(f"Directed by {movie.director}")
    if movie.cast:
        parts.append("Starring " + ", ".join(movie.cast[:MAX_CAST]))
    if movie.keywords:
        parts.append("Keywords: " + ", ".join(movie.keywords[:MAX_KEYWORDS]))
    overview = _clip_words(movie.overview, MAX_OVERVIEW_WORDS)
    if overview:
        parts.append(overview)
    return ". ".join(part.rstrip(". ") for part in parts) + "."


def content_hash(movie: MovieContent) -> str:
    """sha256 of the recipe's text: equal hashes mean the embedding is still current."""
    digest = hashlib.sha256(f"recipe:{RECIPE_VERSION}\n".encode())
    digest.update(embedding_text(movie).encode("utf-8"))
    return digest.hexdigest()


# Sentence ends: a stop, then space, then what starts a sentence. Abbreviations ("Dr. No") split
# too early now and then; a passage of a few words is dropped below, so that costs little.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
# A film's first sentences carry its plot in a Wikipedia lead or a TMDB overview; a short fragment
# ("It grossed $5 million.") adds noise rather than meaning.
MAX_PASSAGES = 8
MIN_PASSAGE_WORDS = 4


def passages(movie: MovieContent) -> list[str]:
    """The overview's sentences (up to MAX_PASSAGES of at least MIN_PASSAGE_WORDS words), each embedded alone."""
    sentences = (s.strip() for s in _SENTENCE_END.split(movie.overview))
    return [s for s in sentences if len(s.split()) >= MIN_PASSAGE_WORDS][:MAX_PASSAGES]
