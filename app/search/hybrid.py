"""The three retrievers of hybrid search: meaning (film and sentence vectors), full-text words (names,
titles, keywords, overview) and title trigrams (typos), in two statements: the words' one runs while the
query text is still being encoded, the meaning one once its vector is there.

Each retriever is an index scan (HNSW, GIN tsvector, GIN trigram) returning at most `pool` films; a
retriever that the mode leaves out is switched off by a parameter.
Meaning is one HNSW scan over movie_passages (passage 0 is the film's own vector), a film scoring its
best passage; under a filter, the films' own index is scanned too, with the filter inside the scan,
so a selective filter still finds its films.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np

from app.search.filters import MovieFilter
from app.search.fusion import TITLE_MIN_SIMILARITY, RetrieverHit
from app.search.memory import InMemoryVectors
from app.search.vectors import DISTANCE_OPERATORS
from app.settings import Metric
from app.vectors import FloatArray

# Longer texts are not titles: the trigram retriever is skipped for them (it would compare every
# title sharing any of the text's trigrams, for nothing; a long title's words still match in full text).
TITLE_MAX_WORDS = 6

# Every hit also carries its notability input: ratings plus the catalogue's votes.
_VOTES = """coalesce((SELECT rs.ratings FROM movie_rating_stats rs WHERE rs.movie_id = m.id), 0)
    + coalesce(m.vote_count, 0) AS votes"""

# Passage 0 is the film's own vector, so without a filter this one scan covers both.
_PASSAGE_KNN = """passage_knn AS (
    SELECT p.movie_id AS id, 1 - (p.embedding <=> $1::vector) AS similarity
    FROM movie_passages p
    ORDER BY p.embedding <=> $1::vector
    LIMIT {pool}
)"""


# $1 query vector, $2 pool, $3.. MovieFilter, then include_thin.
_SF = 3
_THIN = _SF + MovieFilter.PARAMETERS


def semantic_hits_sql(metric: Metric) -> str:
    """Films nearest to the query vector by their own vector or their best sentence's, under a filter."""
    movie_filter = MovieFilter.clause(_SF)
    return f"""
WITH film_knn AS (
    SELECT m.id, 1 - (m.embedding <=> $1::vector) AS similarity
    FROM movies m
    WHERE m.embedding IS NOT NULL AND {movie_filter}
    ORDER BY m.embedding {DISTANCE_OPERATORS[metric]} $1::vector
    LIMIT $2
), {_PASSAGE_KNN.format(pool="$2")}, best AS (
    SELECT id, max(similarity) AS score FROM (SELECT * FROM film_knn UNION ALL SELECT * FROM passage_knn) s GROUP BY id
)
SELECT 'semantic' AS source, m.id, b.score, false AS exact_title, false AS in_title, false AS in_people, {_VOTES}
FROM best b JOIN movies m ON m.id = b.id
WHERE (m.has_overview OR ${_THIN}::boolean) AND {movie_filter}
"""


@functools.cache
def unfiltered_semantic_hits_sql(pool: int, include_thin: bool) -> str:
    """Films nearest to the query vector ($1, the only parameter) by their best sentence, with no filter.

    The pool and the thin flag are written into the text, so no parameter changes the plan's cost:
    PostgreSQL keeps a generic plan after five executions instead of planning every call: 2.37 against
    2.66 ms p50 on the Wikipedia catalogue, the same hits (a filter's parameters would make it plan each).
    """
    thin = "" if include_thin else "WHERE m.has_overview"
    return f"""
WITH {_PASSAGE_KNN.format(pool=int(pool))}, best AS (
    SELECT id, max(similarity) AS score FROM passage_knn GROUP BY id
)
SELECT 'semantic' AS source, m.id, b.score, false AS exact_title, false AS in_title, false AS in_people, {_VOTES}
FROM best b JOIN movies m ON m.id = b.id
{thin}
"""


# $1 text, $2 keyword text, $3 full-text retriever on, $4 title retriever on, $5 pool, $6.. MovieFilter.
_WF = 6
_WORD_FILTER = MovieFilter.clause(_WF)
WORD_HITS = f"""
WITH words AS (
    SELECT websearch_to_tsquery('english', movierec_fold($2)) AS query, movierec_fold($1) AS folded
), ranked AS (
    SELECT m.id, ts_rank_cd(m.search_document, w.query, 1) AS score
    FROM movies m, words w
    WHERE $3::boolean AND m.search_document @@ w.query AND {_WORD_FILTER}
    ORDER BY score DESC, m.id
    LIMIT $5
), keyword AS (
    -- Which part of the document matched, for the pool only (each test reads the document again).
    SELECT r.id, r.score,
           ts_filter(m.search_document, '{{a}}') @@ w.query AS in_title,
           ts_filter(m.search_document, '{{b}}') @@ w.query AS in_people
    FROM ranked r JOIN movies m ON m.id = r.id, words w
), title AS (
    SELECT m.id, similarity(m.title_folded, w.folded) AS score, m.title_folded = w.folded AS exact_title
    FROM movies m, words w
    WHERE $4::boolean AND m.title_folded % w.folded AND similarity(m.title_folded, w.folded) >= {TITLE_MIN_SIMILARITY}
      AND {_WORD_FILTER}
    ORDER BY score DESC, m.id
    LIMIT $5
), hits AS (
    SELECT 'keyword' AS source, id, score, false AS exact_title, in_title, in_people FROM keyword
    UNION ALL
    SELECT 'title', id, score, exact_title, true, false FROM title
)
SELECT h.*, {_VOTES}
FROM hits h JOIN movies m ON m.id = h.id
"""

SEMANTIC_HITS = {metric: semantic_hits_sql(metric) for metric in DISTANCE_OPERATORS}

# The meaning retriever from the in-process vectors (app/search/memory.py): films ranked by their best
# passage, exactly; $1 the ranked ids, $2 their scores, $3.. MovieFilter, then include_thin and the pool.
_RF = 3
RANKED_SEMANTIC_HITS = f"""
SELECT 'semantic' AS source, m.id, r.score, false AS exact_title, false AS in_title, false AS in_people, {_VOTES}
FROM unnest($1::bigint[], $2::float8[]) WITH ORDINALITY AS r(id, score, k)
JOIN movies m ON m.id = r.id
WHERE (m.has_overview OR ${_RF + MovieFilter.PARAMETERS}::boolean) AND {MovieFilter.clause(_RF)}
ORDER BY r.k
LIMIT ${_RF + MovieFilter.PARAMETERS + 1}
"""
# Ranked films tried first, as a multiple of the pool; a selective filter then tries them all.
FIRST_TRY = 10


def _hits(rows: Sequence[asyncpg.Record]) -> list[RetrieverHit]:
    return [
        RetrieverHit(
            movie_id=row["id"],
            source=row["source"],
            score=float(row["score"]),
            votes=int(row["votes"]),
            exact_title=row["exact_title"],
            in_title=row["in_title"],
            in_people=row["in_people"],
        )
        for row in rows
    ]


async def semantic_hits(
    conn: asyncpg.Connection, metric: Metric, vector: Any, *, pool: int, movie_filter: MovieFilter, include_thin: bool
) -> list[RetrieverHit]:
    """The meaning retriever's hits: one statement under the connection's HNSW settings.

    The scans read as many films and passages as the pool holds, which stays within ef_search (80) on
    a first page: one pass each, no iterative scan. A transaction around it lowering ef_search to 40
    was tried: 3.15 ms p50 and 11.2 ms p90 against 2.97 and 5.7 ms for this, over the labelled queries.
    """
    if not movie_filter.active:
        return _hits(await conn.fetch(unfiltered_semantic_hits_sql(pool, include_thin), vector))
    params = (vector, pool, *movie_filter.params(), include_thin)
    return _hits(await conn.fetch(SEMANTIC_HITS[metric], *params))


async def semantic_hits_in_memory(
    conn: asyncpg.Connection,
    memory: InMemoryVectors,
    vector: FloatArray,
    *,
    pool: int,
    movie_filter: MovieFilter,
    include_thin: bool,
) -> list[RetrieverHit]:
    """The meaning retriever's hits from the in-process vectors: an exact search, then the filter in SQL."""
    current = await memory.current(conn)
    first = current.films_by_best_passage(vector, pool * FIRST_TRY)
    rows: list[asyncpg.Record] = []
    for tried in (first, None):
        if tried is None:
            tried = current.films_by_best_passage(vector)
            if len(tried) == len(first):
                break  # the first try held every film already
        scores = tried.similarities.astype(np.float64).tolist()
        rows = await conn.fetch(
            RANKED_SEMANTIC_HITS, tried.ids.tolist(), scores, *movie_filter.params(), include_thin, pool
        )
        if len(rows) >= pool:
            break
    return _hits(rows)


async def word_hits(
    conn: asyncpg.Connection, text: str, keyword_text: str, *, pool: int, movie_filter: MovieFilter
) -> list[RetrieverHit]:
    """The full-text and title retrievers' hits (titles only for texts of at most TITLE_MAX_WORDS words)."""
    rows = await conn.fetch(
        WORD_HITS, text, keyword_text, True, len(text.split()) <= TITLE_MAX_WORDS, pool, *movie_filter.params()
    )
    return _hits(rows)
