"""Movies: look-ups by id, paged title search, and the admin's single-movie upsert."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.catalogue.importers.records import MovieRecord, RowError
from app.embeddings import outbox
from app.embeddings.text import content_hash
from app.errors import BadUserInput, NotFound, check_limit
from app.search.filters import RATED_AVERAGE, MovieFilter

# Everything the API's Movie type shows, plus how many ratings the movie has (its popularity) and
# the mean of those ratings on the catalogue's 0-10 scale, both from the trigger-kept
# movie_rating_stats. vote_average/vote_count stay the catalogue's own figures (the popularity prior
# reads them); `vote_figures` gives what a Movie shows. Other modules select it beside their own
# columns (`FROM movies m`).
MOVIE_COLUMNS = f"""m.id, m.tmdb_id, m.imdb_id, m.title, m.year, m.overview, m.genres, m.keywords,
    m.cast_members, m.director, m.vote_average, m.vote_count, m.popularity, m.poster_url, m.has_overview,
    m.embedding IS NOT NULL AS has_embedding, m.embedded_at,
    (m.embedding IS NOT NULL AND m.embedded_hash IS NOT DISTINCT FROM m.content_hash) AS embedding_current,
    coalesce((SELECT rs.ratings FROM movie_rating_stats rs WHERE rs.movie_id = m.id), 0) AS rating_count,
    round({RATED_AVERAGE}, 2)::real AS rated_average"""


def vote_figures(row: Mapping[str, Any]) -> tuple[float | None, int | None, str | None]:
    """(average, count, source): the catalogue's votes, else the mean of movierec's own ratings."""
    if row["vote_average"] is not None:
        return row["vote_average"], row["vote_count"], "catalogue"
    if row.get("rated_average") is not None:
        return row["rated_average"], row["rating_count"], "ratings"
    return None, None, None


MOVIES_BY_IDS = f"SELECT {MOVIE_COLUMNS} FROM movies m WHERE m.id = ANY($1::bigint[])"
MOVIE_ID_BY_TMDB_ID = "SELECT id FROM movies WHERE tmdb_id = $1"
COUNT_MOVIES = "SELECT count(*) FROM movies"

# Keyset pagination over (lower(title), id); the filter first, then the cursor.
_AFTER = 1 + MovieFilter.PARAMETERS
LIST_MOVIES = f"""
SELECT {MOVIE_COLUMNS}, lower(m.title) AS sort_title
FROM movies m
WHERE {MovieFilter.clause(1)}
  AND (${_AFTER}::text IS NULL OR (lower(m.title), m.id) > (${_AFTER}::text, ${_AFTER + 1}::bigint))
ORDER BY lower(m.title), m.id
LIMIT ${_AFTER + 2}
"""

# Genre names as the catalogue spells them most often, counted case-insensitively.
GENRE_COUNTS = """
SELECT mode() WITHIN GROUP (ORDER BY g) AS name, count(DISTINCT m.id) AS movies
FROM movies m, unnest(m.genres) AS g
GROUP BY movierec_fold(g)
ORDER BY movies DESC, name
LIMIT $1
"""

# A content change gives a new content_hash; clearing embedded_hash marks the movie stale while
# its old vector keeps serving queries until the new one is written.
UPDATE_MOVIE = """
UPDATE movies AS m SET
    tmdb_id = $2, imdb_id = $3, title = $4, year = $5, overview = $6, genres = $7, keywords = $8,
    cast_members = $9, director = $10, vote_average = $11, vote_count = $12, popularity = $13,
    poster_url = $14, content_hash = $15, updated_at = now(),
    embedded_hash = CASE WHEN m.content_hash = $15 THEN m.embedded_hash END,
    embedded_at = CASE WHEN m.content_hash = $15 THEN m.embedded_at END
WHERE m.id = $1
RETURNING m.id, (m.embedded_hash IS NULL) AS needs_embedding
"""

# Two callers creating the same new TMDB id at once: one inserts, the other updates what it inserted.
INSERT_MOVIE = """
WITH created AS (
    INSERT INTO movies (source, source_key, tmdb_id, imdb_id, title, year, overview, genres, keywords, cast_members,
                        director, vote_average, vote_count, popularity, poster_url, content_hash)
    VALUES ('api', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    ON CONFLICT (tmdb_id) DO NOTHING
    RETURNING id
), known AS (
    -- Like an importer's, the film's source key is kept: dedupe and matching treat it as the API's film.
    INSERT INTO movie_sources (source, source_key, movie_id) SELECT 'api', $1, id FROM created
)
SELECT id, true AS needs_embedding FROM created
"""

# The stored fields an update starts from, locked until the transaction ends.
MOVIE_FOR_UPDATE = """
SELECT tmdb_id, imdb_id, title, year, overview, genres, keywords, cast_members AS cast, director,
       vote_average, vote_count, popularity, poster_url
FROM movies WHERE id = $1 FOR UPDATE
"""


async def load_movies_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> list[dict[str, Any] | None]:
    """Movies in the order of `ids` (None where missing): the DataLoader's batch function."""
    rows = await conn.fetch(MOVIES_BY_IDS, list(set(ids)))
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id.get(i) for i in ids]


async def movie_id_by_tmdb_id(conn: asyncpg.Connection, tmdb_id: int) -> int | None:
    """The catalogue id of a TMDB id, if the catalogue has it."""
    found: int | None = await conn.fetchval(MOVIE_ID_BY_TMDB_ID, tmdb_id)
    return found


async def count_movies(conn: asyncpg.Connection) -> int:
    """How many movies the catalogue holds."""
    return int(await conn.fetchval(COUNT_MOVIES))


@dataclass(frozen=True)
class MoviePage:
    """One page of a title search and the cursor for the next."""

    movies: list[dict[str, Any]]
    end_cursor: str | None
    has_next_page: bool


def _encode_cursor(title: str, movie_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([title, movie_id]).encode()).decode()


MAX_CURSOR = 1_000


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        title, movie_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(title, str) or not isinstance(movie_id, int) or not 0 < movie_id < 2**63:
            raise ValueError
        return title, movie_id
    except (ValueError, TypeError, OverflowError):
        raise BadUserInput("after is not a cursor this API returned") from None


async def list_movies(conn: asyncpg.Connection, movie_filter: MovieFilter, first: int, after: str | None) -> MoviePage:
    """Movies by title, `first` at a time after the cursor."""
    check_limit(first, name="first")
    title, last_id = _decode_cursor(after) if after else (None, None)
    rows = await conn.fetch(LIST_MOVIES, *movie_filter.params(), title, last_id, first + 1)
    movies = [dict(row) for row in rows[:first]]
    cursor = _encode_cursor(movies[-1]["sort_title"], movies[-1]["id"]) if movies else None
    return MoviePage(movies=movies, end_cursor=cursor, has_next_page=len(rows) > first)


async def genre_counts(conn: asyncpg.Connection, limit: int) -> list[tuple[str, int]]:
    """The catalogue's genres with their film counts, most common first."""
    return [(row["name"], row["movies"]) for row in await conn.fetch(GENRE_COUNTS, limit)]


async def upsert_movie(conn: asyncpg.Connection, movie_id: int | None, changes: Mapping[str, Any]) -> tuple[int, bool]:
    """Create a movie, or change the sent fields of one (inside the caller's transaction).

    An update starts from the stored values, so fields left out keep them; a TMDB id the catalogue
    has makes a create an update. A content change makes the movie stale (re-embedded by the worker).
    """
    tmdb_id = changes.get("tmdb_id")
    if movie_id is None and tmdb_id is not None:
        movie_id = await movie_id_by_tmdb_id(conn, tmdb_id)
    try:
        if movie_id is None:
            if not changes.get("title"):
                raise BadUserInput("title is required to create a movie")
            record = movie_record(dict(changes))
            result = await conn.fetchrow(INSERT_MOVIE, str(uuid.uuid4()), *_values(record))
            if result is None:  # a concurrent call created this TMDB id first: update it instead
                movie_id = await movie_id_by_tmdb_id(conn, tmdb_id)  # type: ignore[arg-type]
        if movie_id is not None:
            stored = await conn.fetchrow(MOVIE_FOR_UPDATE, movie_id)
            if stored is None:
                raise NotFound(f"movie {movie_id} does not exist")
            current = {**dict(stored), "genres": tuple(stored["genres"]), "keywords": tuple(stored["keywords"])}
            current["cast"] = tuple(stored["cast"])
            record = movie_record({**current, **changes})
            result = await conn.fetchrow(UPDATE_MOVIE, movie_id, *_values(record))
    except asyncpg.UniqueViolationError as error:
        raise BadUserInput(f"another movie already has this {error.constraint_name or 'key'}") from None
    assert result is not None
    if result["needs_embedding"]:
        # Same transaction as the change: the need to embed is never lost, even if Redis is down.
        await outbox.record_change(conn, result["id"])
    return int(result["id"]), bool(result["needs_embedding"])


def _values(record: MovieRecord) -> list[Any]:
    row = record.as_row()
    columns = ("tmdb_id", "imdb_id", "title", "year", "overview", "genres", "keywords", "cast_members", "director")
    extra = ("vote_average", "vote_count", "popularity", "poster_url")
    return [*(row[c] for c in columns), *(row[c] for c in extra), content_hash(record.content)]


def movie_record(fields: dict[str, Any]) -> MovieRecord:
    """Validate API input as a movie record (BAD_USER_INPUT on anything invalid)."""
    try:
        return MovieRecord(**fields)
    except RowError as error:
        raise BadUserInput(str(error)) from None
