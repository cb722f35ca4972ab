"""The embedding pipeline's statements for each generation slot it writes (the active one, or a backfill's)."""

from __future__ import annotations

from dataclasses import dataclass

from app.embeddings.generations import ACTIVE, NEXT, Slot


# A movie needs embedding when its slot has no vector for it, its text changed since, or another
# model made it. $1 model, $2 cut-off: with --all, anything embedded before this run started is redone too.
def _stale(slot: Slot) -> str:
    return f"""({slot.embedding} IS NULL
     OR {slot.hash} IS DISTINCT FROM content_hash
     OR {slot.model} IS DISTINCT FROM $1
     OR ($2::timestamptz IS NOT NULL AND {slot.at} < $2))"""


def _count_stale(slot: Slot) -> str:
    return f"SELECT count(*) FILTER (WHERE {_stale(slot)}) AS stale, count(*) AS total FROM movies"


# Keyset pagination by id: a movie that keeps failing is passed over, never looped on.
def _next_stale_batch(slot: Slot) -> str:
    return f"""
SELECT id, title, year, overview, genres, keywords, cast_members, director, content_hash
FROM movies
WHERE id > $3 AND ($5::bigint IS NULL OR id <= $5) AND {_stale(slot)}
ORDER BY id
LIMIT $4
"""


# Every stale movie's id, in order: a chunked run's plan.
def _stale_ids(slot: Slot) -> str:
    return f"SELECT id FROM movies WHERE {_stale(slot)} ORDER BY id"


# The hash records the text the vector was made from; if the movie changed while it was being
# encoded, the hashes differ and the next run picks it up again. The active slot's run writes the
# full-text document with the vector, so words and meaning index the same version of a film.
def _apply_staging(slot: Slot) -> str:
    document = (
        ",\n    search_document = movierec_search_document("
        "m.title, m.director, m.cast_members, m.keywords, m.genres, m.overview)"
        if slot is ACTIVE
        else ""
    )
    return f"""
UPDATE movies AS m
SET {slot.embedding} = s.embedding, {slot.model} = $1, {slot.hash} = s.content_hash, {slot.at} = now(){document}
FROM embedding_staging AS s
WHERE m.id = s.id
"""


# A movie's passages are replaced with its vector, in the same transaction: never a mix of texts.
# Two statements: a data-modifying CTE's DELETE is invisible to the INSERT beside it.
def _apply_passage_staging(slot: Slot) -> str:
    return f"""
DELETE FROM {slot.passages} p USING embedding_staging s WHERE p.movie_id = s.id;
INSERT INTO {slot.passages} (movie_id, ordinal, embedding)
SELECT movie_id, ordinal, embedding FROM passage_staging
"""


@dataclass(frozen=True)
class SlotStatements:
    """The pipeline's statements for one generation slot."""

    count_stale: str
    next_stale_batch: str
    stale_ids: str
    apply_staging: str
    apply_passage_staging: str


STATEMENTS = {
    slot.name: SlotStatements(
        _count_stale(slot),
        _next_stale_batch(slot),
        _stale_ids(slot),
        _apply_staging(slot),
        _apply_passage_staging(slot),
    )
    for slot in (ACTIVE, NEXT)
}
