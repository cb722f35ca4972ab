"""One record per film: match each imported record to the film it names, merge, or insert it.

A record names a stored film by, in order: its own (source, source key), its TMDB id, its IMDb id,
its title key and year (one such film only), or its title key within a year when the director or a
lead actor agrees. A film never holds two keys of one source, so two films of one source with the
same title and year stay two films. Every source key a film was imported under is kept in
movie_sources.

What a match does: a film only this source ever described takes the record as it is (the source
is the film's truth, corrections included); a film several sources describe is enriched: empty
fields filled, the richer overview kept. Both are idempotent, so re-importing changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import orjson

from app.catalogue.importers.records import ImportSummary, MovieRecord

_KEYS = """jsonb_to_recordset($1::jsonb) AS x(
    n integer, source text, source_key text, tmdb_id integer, imdb_id text, title text, year smallint,
    director text, cast_members text[])"""

# The same source may name a film once: a candidate that already holds a key of this source is another film.
_OTHER_SOURCE = "NOT EXISTS (SELECT 1 FROM movie_sources s WHERE s.movie_id = m.id AND s.source = r.source)"

MATCH_RECORDS = f"""
WITH r AS MATERIALIZED (
    -- Each record's title key once: it is the costly part of matching (unaccent and three regexps).
    SELECT x.*, movierec_title_key(x.title) AS title_key FROM {_KEYS}
)
SELECT r.n, found.movie_id, found.how,
       EXISTS (SELECT 1 FROM movie_sources s WHERE s.movie_id = found.movie_id AND s.source <> r.source) AS shared,
       m.tmdb_id, m.imdb_id, m.title, m.year, m.overview, m.genres, m.keywords, m.cast_members AS cast,
       m.director, m.vote_average, m.vote_count, m.popularity, m.poster_url
FROM r
CROSS JOIN LATERAL (
    SELECT c.movie_id, c.how FROM (
        SELECT s.movie_id, 'source' AS how, 1 AS priority
        FROM movie_sources s WHERE s.source = r.source AND s.source_key = r.source_key
        UNION ALL
        SELECT m.id, 'tmdb id', 2 FROM movies m WHERE m.tmdb_id = r.tmdb_id
        UNION ALL
        SELECT m.id, 'imdb id', 3 FROM movies m WHERE m.imdb_id = r.imdb_id
        UNION ALL
        SELECT min(m.id), 'title and year', 4 FROM movies m
        WHERE movierec_title_key(m.title) = r.title_key AND m.year = r.year AND {_OTHER_SOURCE}
        HAVING count(*) = 1
        UNION ALL
        SELECT min(m.id), 'title, year +/- 1 and a name', 5 FROM movies m
        WHERE movierec_title_key(m.title) = r.title_key
          AND m.year IN (r.year - 1, r.year + 1)
          AND (movierec_fold(m.director) = movierec_fold(r.director) OR m.cast_members[1:3] && r.cast_members[1:3])
          AND {_OTHER_SOURCE}
        HAVING count(*) = 1
    ) AS c
    ORDER BY c.priority
    LIMIT 1
) AS found
JOIN movies m ON m.id = found.movie_id
"""

_CONTENT = (
    "tmdb_id", "imdb_id", "title", "year", "overview", "genres", "keywords", "cast_members", "director",
    "vote_average", "vote_count", "popularity", "poster_url", "content_hash",
)  # fmt: skip
_RECORDSET = """jsonb_to_recordset($1::jsonb) AS r(
    id bigint, source text, source_key text, tmdb_id integer, imdb_id text, title text, year smallint,
    overview text, genres text[], keywords text[], cast_members text[], director text,
    vote_average real, vote_count integer, popularity real, poster_url text, content_hash text)"""

# A row whose values all match is left alone ("unchanged"); a changed one becomes stale.
_STORED, _INCOMING = (", ".join(f"{alias}.{c}" for c in _CONTENT) for alias in ("m", "r"))
UPDATE_MATCHED = f"""
UPDATE movies AS m SET {", ".join(f"{c} = r.{c}" for c in _CONTENT)}, updated_at = now()
FROM {_RECORDSET}
WHERE m.id = r.id AND ({_STORED}) IS DISTINCT FROM ({_INCOMING})
RETURNING m.id
"""

# New films and their source keys in one statement (the keys' foreign key is checked at its end).
INSERT_NEW = f"""
WITH inserted AS (
    INSERT INTO movies (source, source_key, {", ".join(_CONTENT)})
    SELECT source, source_key, {", ".join(_CONTENT)} FROM {_RECORDSET}
    RETURNING id, source, source_key
), linked AS (
    INSERT INTO movie_sources (source, source_key, movie_id)
    SELECT source, source_key, id FROM inserted WHERE source IS NOT NULL
    ON CONFLICT (source, source_key) DO NOTHING
)
SELECT count(*) FROM inserted
"""

RECORD_SOURCES = """
INSERT INTO movie_sources (source, source_key, movie_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
ON CONFLICT (source, source_key) DO NOTHING
"""


def stored_record(row: Mapping[str, Any]) -> MovieRecord:
    """A stored film's fields as a record (for merging)."""
    fields = {name: row[name] for name in MovieRecord.__dataclass_fields__ if name in row}
    for name in ("genres", "keywords", "cast"):
        fields[name] = tuple(fields.get(name) or ())
    fields["overview"] = fields.get("overview") or ""
    return MovieRecord(**fields)


def enrich(stored: MovieRecord, other: MovieRecord) -> MovieRecord:
    """The stored film with what another source adds: empty fields filled, the longer overview kept."""
    filled: dict[str, Any] = {}
    for name in MovieRecord.__dataclass_fields__:
        if name in ("source", "source_key", "title"):
            continue
        mine, theirs = getattr(stored, name), getattr(other, name)
        if name == "overview":
            if len(theirs.strip()) > len(mine.strip()):
                filled[name] = theirs
        elif mine in (None, (), "") and theirs not in (None, (), ""):
            filled[name] = theirs
    return replace(stored, **filled) if filled else stored


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


@dataclass(frozen=True)
class PreparedBatch:
    """Records to write, with what can be computed before the database is asked: their rows and match keys."""

    records: list[MovieRecord]
    rows: list[dict[str, Any]]
    keys: str  # the match statement's jsonb argument

    @classmethod
    def of(cls, records: Sequence[MovieRecord]) -> PreparedBatch:
        """The batch with each record's row (content hash included) and match key made."""
        keys = [
            {"n": n, "source": r.source, "source_key": r.source_key, "tmdb_id": r.tmdb_id, "imdb_id": r.imdb_id,
             "title": r.title.strip(), "year": r.year, "director": r.director, "cast_members": list(r.cast)}
            for n, r in enumerate(records)
        ]  # fmt: skip
        return cls(list(records), [r.as_row() for r in records], _json(keys))


async def write_movies(conn: asyncpg.Connection, batch: PreparedBatch, summary: ImportSummary) -> None:
    """Match, merge or insert one batch in one transaction; count what happened."""
    if not batch.records:
        return
    async with conn.transaction():
        matches = {row["n"]: row for row in await conn.fetch(MATCH_RECORDS, batch.keys)}
        updates: list[dict[str, Any]] = []
        links: list[tuple[str, str, int]] = []
        new: list[dict[str, Any]] = []
        updated_ids: set[int] = set()
        for n, record in enumerate(batch.records):
            match = matches.get(n)
            # Two records of one batch naming one film: the first merges, the next is its own film.
            if match is None or (match["how"] != "source" and match["movie_id"] in updated_ids):
                new.append({**batch.rows[n], "id": None})
                continue
            if match["shared"] or match["how"] != "source":
                merged = enrich(stored_record(match), record)
                updates.append({**merged.as_row(), "id": match["movie_id"]})
                summary.merged += match["how"] != "source"
            else:
                updates.append({**batch.rows[n], "id": match["movie_id"]})  # the film's only source: its values stand
            updated_ids.add(match["movie_id"])
            if match["how"] != "source" and record.source is not None and record.source_key is not None:
                links.append((record.source, record.source_key, match["movie_id"]))  # a key the film lacked
        changed = await conn.fetch(UPDATE_MATCHED, _json(updates)) if updates else []
        inserted = await conn.fetchval(INSERT_NEW, _json(new)) if new else 0
        if links:
            await conn.execute(RECORD_SOURCES, *(list(column) for column in zip(*links, strict=True)))
    summary.inserted += inserted
    summary.updated += len(changed)
    summary.unchanged += len(updates) - len(changed)
