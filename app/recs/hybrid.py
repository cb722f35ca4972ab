"""The hybrid's candidates in one query: "people who liked what you liked" scores from the active model,
the model's popular films and the content candidates, each with its exact collaborative score."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import numpy as np

from app.catalogue.movies import MOVIE_COLUMNS
from app.recs.collaborative import DISLIKED, LIKED, WATCHED
from app.recs.ranking import Candidate
from app.search.filters import MovieFilter
from app.settings import Settings

_F = 9  # the filter's first parameter
# $1 users, $2 like threshold, $3 dislike-below, $4-$6 the LIKED/WATCHED/DISLIKED values,
# ($7 user, $8 movie) pairs of content candidates, then the filter, then the collaborative pool size.
HYBRID_CANDIDATES = f"""
WITH model AS (
    SELECT m.id, m.popular_ids FROM recommender_state s JOIN recommender_models m ON m.id = s.active_model_id
),
rated AS (
    SELECT user_id, movie_id,
           CASE WHEN rating < $3 THEN $6::float8 WHEN rating >= $2 THEN $4::float8 ELSE $5::float8 END AS x
    FROM ratings WHERE user_id = ANY($1::bigint[])
),
collab AS (
    SELECT r.user_id, n.neighbor_id AS id, sum(n.weight * r.x) AS score, sum(n.weight * greatest(r.x, 0)) AS liked
    FROM rated r JOIN movie_neighbors n ON n.model_id = (SELECT id FROM model) AND n.movie_id = r.movie_id
    WHERE NOT EXISTS (SELECT 1 FROM rated s WHERE s.user_id = r.user_id AND s.movie_id = n.neighbor_id)
    GROUP BY r.user_id, n.neighbor_id
),
-- The scale: the best score the user's positive ratings alone give any film, so a dislike lowers scores.
best AS (SELECT user_id, max(liked) AS top FROM collab GROUP BY user_id),
top_collab AS (
    SELECT user_id, id FROM (
        SELECT c.user_id, c.id, row_number() OVER (PARTITION BY c.user_id ORDER BY c.score DESC, c.id) AS k
        FROM collab c JOIN movies m ON m.id = c.id
        WHERE {MovieFilter.clause(_F)}
    ) ranked
    WHERE k <= ${_F + MovieFilter.PARAMETERS}
),
picked AS (
    SELECT user_id, id FROM top_collab
    UNION SELECT u.id, p.id FROM unnest($1::bigint[]) AS u(id), model, unnest(model.popular_ids) AS p(id)
    UNION SELECT * FROM unnest($7::bigint[], $8::bigint[])
)
SELECT p.user_id, {MOVIE_COLUMNS}, m.embedding, coalesce(c.score, 0) AS collaborative,
       coalesce(b.top, 0) AS best, (SELECT id FROM model) AS model_id,
       (SELECT count(*) FROM rated s WHERE s.user_id = p.user_id) AS rated
FROM picked p
JOIN movies m ON m.id = p.id
LEFT JOIN collab c ON c.user_id = p.user_id AND c.id = p.id
LEFT JOIN best b ON b.user_id = p.user_id
WHERE m.embedding IS NOT NULL AND {MovieFilter.clause(_F)}
  AND NOT EXISTS (SELECT 1 FROM rated s WHERE s.user_id = p.user_id AND s.movie_id = p.id)
"""


@dataclass
class HybridPool:
    """One user's hybrid candidates: movie rows with vectors, raw collaborative scores, and the user's best."""

    model_id: int | None = None
    rated: int = 0
    best: float = 0.0
    candidates: list[Candidate] = field(default_factory=list)
    collaborative: dict[int, float] = field(default_factory=dict)

    @property
    def servable(self) -> bool:
        """True when a model serves and the user has rated something: the hybrid applies."""
        return self.model_id is not None and self.rated > 0 and bool(self.candidates)


async def load_hybrid_pools(
    conn: asyncpg.Connection,
    settings: Settings,
    users: Sequence[int],
    content: dict[int, list[int]],
    movie_filter: MovieFilter,
    pool: int,
) -> dict[int, HybridPool]:
    """Each user's candidates: top `pool` by the model, its popular films, and the given content candidates."""
    pairs = [(user, movie) for user, movies in content.items() for movie in movies]
    rows = await conn.fetch(
        HYBRID_CANDIDATES,
        list(users),
        settings.like_threshold,
        settings.dislike_below,
        LIKED,
        WATCHED,
        DISLIKED,
        [u for u, _ in pairs],
        [m for _, m in pairs],
        *movie_filter.params(),
        pool,
    )
    pools: dict[int, HybridPool] = defaultdict(HybridPool)
    for row in rows:
        record = dict(row)
        user = record.pop("user_id")
        hybrid = pools[user]
        hybrid.model_id, hybrid.rated, hybrid.best = record.pop("model_id"), record.pop("rated"), record.pop("best")
        raw = float(record.pop("collaborative"))
        vector = np.asarray(record.pop("embedding").to_numpy(), dtype=np.float32)
        hybrid.candidates.append(Candidate(movie=record, vector=vector, similarity=0.0))
        hybrid.collaborative[int(record["id"])] = raw
    return {user: pools[user] for user in users}
