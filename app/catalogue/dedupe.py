"""`movierec dedupe`: find films stored twice (by different sources) and merge each group into one.

Two films are one when their title keys match and their years are equal, or one apart with the
director or a lead actor in common, and no source named both (a source names a film once). The
film most people rated is kept; it takes in the others' fields (empty ones filled, the richer
overview), their source keys and their ratings (a user who rated both keeps the later rating),
and the copies are deleted. The kept film's new text is re-embedded by the next refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.catalogue.importers.matching import enrich, stored_record
from app.embeddings import outbox

FIND_DUPLICATE_PAIRS = """
SELECT a.id AS first, b.id AS second
FROM movies a
JOIN movies b ON movierec_title_key(b.title) = movierec_title_key(a.title) AND b.id > a.id
 AND b.year BETWEEN a.year - 1 AND a.year + 1
WHERE (a.year = b.year
       OR movierec_fold(a.director) = movierec_fold(b.director)
       OR a.cast_members[1:3] && b.cast_members[1:3])
  AND NOT EXISTS (SELECT 1 FROM movie_sources sa JOIN movie_sources sb USING (source)
                  WHERE sa.movie_id = a.id AND sb.movie_id = b.id)
"""

LOAD_FILMS = """
SELECT m.id, m.tmdb_id, m.imdb_id, m.title, m.year, m.overview, m.genres, m.keywords, m.cast_members AS cast,
       m.director, m.vote_average, m.vote_count, m.popularity, m.poster_url,
       coalesce(rs.ratings, 0) AS ratings,
       coalesce((SELECT array_agg(s.source ORDER BY s.source) FROM movie_sources s WHERE s.movie_id = m.id),
                '{}') AS sources
FROM movies m LEFT JOIN movie_rating_stats rs ON rs.movie_id = m.id
WHERE m.id = ANY($1::bigint[])
"""

# Ratings move to the kept film; where a user rated both, the later rating stands.
MOVE_RATINGS = """
INSERT INTO ratings AS r (user_id, movie_id, rating, rated_at, created_at, updated_at)
SELECT user_id, $1, rating, rated_at, created_at, updated_at FROM ratings WHERE movie_id = ANY($2::bigint[])
ON CONFLICT (user_id, movie_id) DO UPDATE
    SET rating = excluded.rating, rated_at = excluded.rated_at, updated_at = now()
    WHERE excluded.rated_at > r.rated_at
"""
MOVE_SOURCES = "UPDATE movie_sources SET movie_id = $1 WHERE movie_id = ANY($2::bigint[])"
DELETE_COPIES = "DELETE FROM movies WHERE id = ANY($1::bigint[])"
# Ids are unique: the copies' external ids move only after the copies are gone.
UPDATE_KEPT = """
UPDATE movies SET tmdb_id = $2, imdb_id = $3, year = $4, overview = $5, genres = $6, keywords = $7,
    cast_members = $8, director = $9, vote_average = $10, vote_count = $11, popularity = $12, poster_url = $13,
    content_hash = $14, updated_at = now()
WHERE id = $1
"""


@dataclass
class DedupeReport:
    """Groups found (kept id, merged ids, a label) and whether they were merged."""

    groups: list[tuple[int, list[int], str]] = field(default_factory=list)
    applied: bool = False

    def lines(self) -> list[str]:
        """What was (or would be) merged."""
        copies = sum(len(merged) for _, merged, _ in self.groups)
        verb = "merged" if self.applied else "would merge (dry run)"
        out = [f"{verb} {copies} duplicate records into {len(self.groups)} films"]
        for kept, merged, label in self.groups[:50]:
            out.append(f"  {label}: #{kept} <- {', '.join(f'#{m}' for m in merged)}")
        if len(self.groups) > 50:
            out.append(f"  … and {len(self.groups) - 50} more")
        return out


def group_pairs(pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected groups of films from duplicate pairs (union-find), each sorted."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for x in parent:
        groups.setdefault(root(x), []).append(x)
    return sorted(sorted(g) for g in groups.values())


def keeper(films: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The film to keep: most ratings, then the longest overview, then the oldest id."""
    return min(films, key=lambda f: (-f["ratings"], -len(f["overview"]), f["id"]))


async def dedupe(conn: asyncpg.Connection, *, dry_run: bool = False) -> DedupeReport:
    """Find duplicate groups and (unless dry_run) merge each in its own transaction."""
    pairs = [(row["first"], row["second"]) for row in await conn.fetch(FIND_DUPLICATE_PAIRS)]
    report = DedupeReport(applied=not dry_run)
    for group in group_pairs(pairs):
        films = [dict(row) for row in await conn.fetch(LOAD_FILMS, group)]
        sources = [s for f in films for s in f["sources"]]
        if len(sources) != len(set(sources)):
            continue  # a source names two of them: two films after all
        kept = keeper(films)
        copies = [f for f in films if f["id"] != kept["id"]]
        report.groups.append((kept["id"], [f["id"] for f in copies], f"{kept['title']} ({kept['year']})"))
        if not dry_run:
            await _merge(conn, kept, copies)
    return report


async def _merge(conn: asyncpg.Connection, kept: dict[str, Any], copies: Sequence[dict[str, Any]]) -> None:
    record = stored_record(kept)
    for copy in copies:
        record = enrich(record, stored_record(copy))
    ids = [c["id"] for c in copies]
    async with conn.transaction():
        await conn.execute(MOVE_RATINGS, kept["id"], ids)
        await conn.execute(MOVE_SOURCES, kept["id"], ids)
        await conn.execute(DELETE_COPIES, ids)
        row = record.as_row()
        await conn.execute(
            UPDATE_KEPT, kept["id"], row["tmdb_id"], row["imdb_id"], row["year"], row["overview"], row["genres"],
            row["keywords"], row["cast_members"], row["director"], row["vote_average"], row["vote_count"],
            row["popularity"], row["poster_url"], row["content_hash"],
        )  # fmt: skip
        await outbox.record_change(conn, kept["id"])
