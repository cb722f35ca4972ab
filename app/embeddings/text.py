"""The embedding recipe: which of a movie's fields become the text the model reads."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

# all-MiniLM-L6-v2 reads 256 word pieces and drops the rest. The short, structured fields
# come first so truncation only ever trims the end of a long overview; the caps below keep
# a typical movie well inside the window (about 1.3 word pieces per English word).
MAX_CAST = 6
MAX_KEYWORDS = 12
MAX_OVERVIEW_WORDS = 150
RECIPE_VERSION = "1"


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
