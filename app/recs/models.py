"""Reading the collaborative models: their audit rows, the one serving, and "people who liked this also liked"."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg

from app.catalogue.movies import MOVIE_COLUMNS
from app.db.connections import advisory_lock_held
from app.errors import NotFound, check_limit
from app.recs.training import TRAIN_LOCK_KEY, roll_back

# A 'training' row whose training lock nobody holds was left by a process that died.
_MODEL_COLUMNS = f"""m.id, m.method, m.trigger, m.job_id, m.started_at, m.finished_at, m.ratings, m.users, m.movies,
       m.weights, m.seconds, m.peak_rss_mb, m.params, m.error,
       CASE WHEN m.status = 'training' AND NOT {advisory_lock_held(TRAIN_LOCK_KEY)}
            THEN 'interrupted' ELSE m.status END AS status,
       m.id = s.active_model_id AS active, m.id = s.previous_model_id AS previous"""

RECENT_MODELS = f"""
SELECT {_MODEL_COLUMNS} FROM recommender_models m CROSS JOIN recommender_state s ORDER BY m.id DESC LIMIT $1
"""
ACTIVE_MODEL = f"""
SELECT {_MODEL_COLUMNS} FROM recommender_state s JOIN recommender_models m ON m.id = s.active_model_id
"""
MODEL_BY_JOB_ID = f"""
SELECT {_MODEL_COLUMNS} FROM recommender_models m CROSS JOIN recommender_state s
WHERE m.job_id = $1 ORDER BY m.id DESC LIMIT 1
"""
MAX_ALSO_LIKED = 20

# The strongest neighbours of each movie in the serving model, best first.
ALSO_LIKED = f"""
SELECT x.source_id, {MOVIE_COLUMNS}, x.weight
FROM (
    SELECT n.movie_id AS source_id, n.neighbor_id, n.weight,
           row_number() OVER (PARTITION BY n.movie_id ORDER BY n.weight DESC, n.neighbor_id) AS k
    FROM movie_neighbors n
    WHERE n.model_id = (SELECT active_model_id FROM recommender_state) AND n.movie_id = ANY($1::bigint[])
) x
JOIN movies m ON m.id = x.neighbor_id
WHERE x.k <= $2
ORDER BY x.source_id, x.weight DESC, m.id
"""


async def load_models(conn: asyncpg.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest trainings, newest first, with which one serves and which is kept for rollback."""
    return [dict(row) for row in await conn.fetch(RECENT_MODELS, limit)]


async def load_active_model(conn: asyncpg.Connection) -> dict[str, Any] | None:
    """The model serving now, if any."""
    row = await conn.fetchrow(ACTIVE_MODEL)
    return dict(row) if row else None


async def load_model_by_job_id(conn: asyncpg.Connection, job_id: str) -> dict[str, Any] | None:
    """The newest training a queued job started, if any."""
    row = await conn.fetchrow(MODEL_BY_JOB_ID, job_id)
    return dict(row) if row else None


async def load_also_liked(
    conn: asyncpg.Connection, movie_ids: Sequence[int], limit: int
) -> list[list[tuple[dict[str, Any], float]]]:
    """For each movie (in order), up to `limit` (movie, weight) pairs: people who liked it also liked these."""
    grouped: dict[int, list[tuple[dict[str, Any], float]]] = defaultdict(list)
    for row in await conn.fetch(ALSO_LIKED, list(set(movie_ids)), limit):
        record = dict(row)
        source, weight = record.pop("source_id"), float(record.pop("weight"))
        grouped[source].append((record, weight))
    return [grouped.get(movie_id, []) for movie_id in movie_ids]


class ModelRegistry:
    """The collaborative models as the API sees them, each call on a pooled connection."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest trainings, newest first."""
        check_limit(limit)
        async with self._pool.acquire() as conn:
            return await load_models(conn, limit)

    async def active(self) -> dict[str, Any] | None:
        """The model serving now."""
        async with self._pool.acquire() as conn:
            return await load_active_model(conn)

    async def by_job_id(self, job_id: str) -> dict[str, Any] | None:
        """The newest training a queued job started."""
        async with self._pool.acquire() as conn:
            return await load_model_by_job_id(conn, job_id)

    async def also_liked(self, movie_ids: Sequence[int]) -> list[list[tuple[dict[str, Any], float]]]:
        """For each movie, up to MAX_ALSO_LIKED films people who liked it also liked (the DataLoader's batch)."""
        async with self._pool.acquire() as conn:
            return await load_also_liked(conn, movie_ids, MAX_ALSO_LIKED)

    async def roll_back(self) -> dict[str, Any]:
        """Serve the previous model again; NOT_FOUND when there is none to go back to."""
        async with self._pool.acquire() as conn, conn.transaction():
            if await roll_back(conn) is None:
                raise NotFound("there is no previous model to roll back to")
            model = await load_active_model(conn)
        assert model is not None
        return model
