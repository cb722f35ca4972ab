"""The hybrid's candidates: the model's best films for each user with their exact "people who liked what
you liked" scores (summed in process from the users' ratings, app/recs/scoring.py), the model's popular
films, and each film's similarity to the user's taste profile, in one statement after the ratings, so
most personal lists need no other query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import numpy as np

from app.catalogue.movies import MOVIE_COLUMNS
from app.recs.ranking import Candidate
from app.recs.scoring import Reached, ServedModels, load_ratings_and_model, reach
from app.search.filters import MovieFilter
from app.settings import Settings
from app.vectors import NO_VECTOR, as_array

_F = 7  # the filter's first parameter
_POOL = _F + MovieFilter.PARAMETERS
_VECTORS = _POOL + 1
# The users' ratings ($1) and each one's taste profile direction, sum(rating * vector) over the films
# rated at least $2 (app.recs.ranking.taste_profile): pgvector sums vectors but has no scalar product,
# so the liked films are summed per rating and each such sum is added 2 x rating times (ratings are half
# steps); cosine similarity ignores the factor 2. The list and its explanation share it.
RATED_AND_PROFILE = """
rated AS MATERIALIZED (SELECT user_id, movie_id, rating FROM ratings WHERE user_id = ANY($1::bigint[])),
profile AS (
    SELECT g.user_id, sum(g.total) AS direction
    FROM (
        SELECT r.user_id, r.rating, sum(m.embedding) AS total
        FROM rated r JOIN movies m ON m.id = r.movie_id
        WHERE r.rating >= $2 AND m.embedding IS NOT NULL
        GROUP BY r.user_id, r.rating
    ) g CROSS JOIN LATERAL generate_series(1, (g.rating * 2)::int)
    GROUP BY g.user_id
)"""
# $1 users, $2 like threshold, $3 the serving model, $4-$6 the films the model reaches for each user
# and their scores (summed in the API process, app/recs/scoring.py: without a filter only each user's
# best `pool`), then the filter, the pool size, and whether the films' vectors come back (only
# diversity needs them: 40 vectors are most of the bytes a request reads).
_HYBRID = f"""
WITH model AS MATERIALIZED (SELECT m.id, m.popular_ids FROM recommender_models m WHERE m.id = $3),
{RATED_AND_PROFILE},
-- A film rated since its score was summed is dropped here.
collab AS MATERIALIZED (
    SELECT c.* FROM unnest($4::bigint[], $5::bigint[], $6::float8[]) AS c(user_id, id, score)
    WHERE NOT EXISTS (SELECT 1 FROM rated s WHERE s.user_id = c.user_id AND s.movie_id = c.id)
),
counts AS (SELECT user_id, count(*) AS rated FROM rated GROUP BY user_id),
{{top_collab}}
-- A film's collaborative score rides along from top_collab: a popular film the model also reached is
-- there too (popular films join only when top_collab holds all the user's films that pass the filter).
picked AS (
    SELECT user_id, id, true AS top, score FROM top_collab
    -- The model's popular films, for users it offers fewer than a full pool (cold starts among them).
    UNION ALL SELECT u.id, p.id, false, 0 FROM unnest($1::bigint[]) AS u(id), model, unnest(model.popular_ids) AS p(id)
    WHERE (SELECT count(*) FROM top_collab t WHERE t.user_id = u.id) < ${_POOL}
)
-- One row per candidate, and one with empty movie columns for a user with none (the summary still counts).
SELECT u.id AS user_id, x.*, (SELECT id FROM model) AS model_id,
       coalesce(n.rated, 0) AS rated, pr.direction IS NOT NULL AS has_profile
FROM unnest($1::bigint[]) AS u(id)
LEFT JOIN counts n ON n.user_id = u.id
LEFT JOIN profile pr ON pr.user_id = u.id
LEFT JOIN LATERAL (
    SELECT m.*, max(p.score) OVER (PARTITION BY p.id) AS collaborative, bool_or(p.top) OVER (PARTITION BY p.id) AS top
    FROM picked p
    CROSS JOIN LATERAL (
        SELECT {MOVIE_COLUMNS}, coalesce(1 - (m.embedding <=> pr.direction), 0) AS similarity,
               CASE WHEN ${_VECTORS}::boolean THEN m.embedding END AS embedding
        FROM movies m
        WHERE m.id = p.id AND m.embedding IS NOT NULL AND {MovieFilter.clause(_F)}
        OFFSET 0
    ) m
    WHERE p.user_id = u.id AND NOT EXISTS (SELECT 1 FROM rated s WHERE s.user_id = u.id AND s.movie_id = p.id)
) x ON true
"""

# The model's best films for each user; a filter is applied while ranking them, so a filtered list
# still gets `pool` of them, and skipped (no look-up per film) when there is none.
_TOP = """top_collab AS (
    SELECT user_id, id, score FROM (
        SELECT c.user_id, c.id, c.score, row_number() OVER (PARTITION BY c.user_id ORDER BY c.score DESC, c.id) AS k
        FROM collab c {join}
    ) ranked
    WHERE k <= ${pool}
),"""
_FILTERED = f"CROSS JOIN LATERAL (SELECT * FROM movies m WHERE m.id = c.id OFFSET 0) m WHERE {MovieFilter.clause(_F)}"
HYBRID_CANDIDATES = {
    filtered: _HYBRID.replace("{top_collab}", _TOP.format(join=_FILTERED if filtered else "", pool=_POOL))
    for filtered in (False, True)
}


@dataclass
class HybridPool:
    """One user's hybrid candidates: movie rows with vectors, raw collaborative scores, and the user's best.

    `complete` says the model offered a full pool of films for the request: then every film it
    reaches that passes the filter is among them or scores below them, and a film outside them has
    no collaborative score at all when the pool is not complete, so content candidates added then
    score exactly 0 there.
    """

    model_id: int | None = None
    rated: int = 0
    best: float = 0.0
    has_profile: bool = False
    complete: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    collaborative: dict[int, float] = field(default_factory=dict)

    @property
    def servable(self) -> bool:
        """True when a model serves and the user has rated something: the hybrid applies."""
        return self.model_id is not None and self.rated > 0


def _flat(reached: dict[int, Reached]) -> tuple[list[int], list[int], list[float]]:
    """(user, film, score) as three parallel arrays, the statement's $4-$6."""
    if not reached:
        return [], [], []
    users = np.repeat(list(reached), [len(r.ids) for r in reached.values()])
    ids = np.concatenate([r.ids for r in reached.values()])
    scores = np.concatenate([r.scores for r in reached.values()])
    return users.tolist(), ids.tolist(), scores.tolist()


async def load_hybrid_pools(
    conn: asyncpg.Connection,
    settings: Settings,
    users: Sequence[int],
    movie_filter: MovieFilter,
    pool: int,
    *,
    models: ServedModels,
    film_vectors: bool = False,
) -> dict[int, HybridPool]:
    """Each user's candidates: the model's top `pool` films and its popular ones, with their similarity.

    Two statements: the users' ratings (scored in process with the serving model's weights), then the
    candidates. Their vectors only with `film_vectors` (diversity compares them); otherwise each is empty.
    """
    model_id, ratings = await load_ratings_and_model(conn, users)
    served = await models.get(conn, model_id)
    reached: dict[int, Reached] = {}
    if served is not None:
        for user, rated in ratings.items():
            every = reach(served, rated, like_threshold=settings.like_threshold, dislike_below=settings.dislike_below)
            # A filter is applied while ranking (a filtered list still gets `pool` films): it needs them all.
            reached[user] = every if movie_filter.active else every.top(pool)
    rows = await conn.fetch(
        HYBRID_CANDIDATES[movie_filter.active],
        list(users),
        settings.like_threshold,
        model_id,
        *_flat(reached),
        *movie_filter.params(),
        pool,
        film_vectors,
    )
    pools: dict[int, HybridPool] = defaultdict(HybridPool)
    tops: dict[int, int] = defaultdict(int)
    seen: set[tuple[int, int]] = set()
    for row in rows:
        record = dict(row)
        user = record.pop("user_id")
        hybrid = pools[user]
        hybrid.model_id, hybrid.rated = record.pop("model_id"), record.pop("rated")
        hybrid.best = reached[user].best if user in reached else 0.0
        hybrid.has_profile = record.pop("has_profile")
        if record["id"] is None:  # no candidate for this user: the summary alone
            continue
        raw, top, similarity = float(record.pop("collaborative")), record.pop("top"), float(record.pop("similarity"))
        stored = record.pop("embedding")
        vector = NO_VECTOR if stored is None else as_array(stored)
        movie = int(record["id"])
        if (user, movie) in seen:  # a film both among the best and popular comes once
            continue
        seen.add((user, movie))
        tops[user] += bool(top)
        hybrid.candidates.append(Candidate(movie=record, vector=vector, similarity=similarity))
        hybrid.collaborative[movie] = raw
    for user, hybrid in pools.items():
        hybrid.complete = tops[user] >= pool
    return {user: pools[user] for user in users}
