"""Training the collaborative model from the stored ratings, publishing it atomically, and rolling it back."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

from app.recs.collaborative import ItemWeights, TrainingConfig, train_item_weights
from app.settings import Settings

# Held for the whole training on its connection: two trainings never overlap.
TRAIN_LOCK_KEY = 7_361_044_203
TRY_TRAIN_LOCK = "SELECT pg_try_advisory_lock($1)"
RELEASE_TRAIN_LOCK = "SELECT pg_advisory_unlock($1)"
POPULAR_KEPT = 50

# A row left 'training' by a process that died is no longer training once the lock is free.
MARK_ABANDONED = """
UPDATE recommender_models SET status = 'interrupted', finished_at = now(),
    error = coalesce(error, 'the process training it stopped before it finished')
WHERE status = 'training'
"""
START_TRAINING = """
INSERT INTO recommender_models (method, trigger, job_id, params) VALUES ($1, $2, $3, $4::jsonb) RETURNING id
"""
ALL_RATINGS = "SELECT user_id, movie_id, rating::float8 AS rating FROM ratings"
FINISH_UNPUBLISHED = """
UPDATE recommender_models SET status = $2, finished_at = now(), seconds = $3, ratings = $4, users = $5, error = $6
WHERE id = $1
"""
MARK_READY = """
UPDATE recommender_models
SET status = 'ready', finished_at = now(), ratings = $2, users = $3, movies = $4, weights = $5, seconds = $6,
    peak_rss_mb = $7, popular_ids = $8
WHERE id = $1
"""
PUBLISH = """
UPDATE recommender_state SET previous_model_id = active_model_id, active_model_id = $1, published_at = now()
"""
# Only the serving model and the previous one (for rollback) keep their weights.
PRUNE_WEIGHTS = """
DELETE FROM movie_neighbors
WHERE model_id NOT IN (SELECT kept FROM recommender_state, unnest(ARRAY[active_model_id, previous_model_id]) AS kept
                       WHERE kept IS NOT NULL)
"""
# Marks the new rows all-visible, so the per-request look-ups are index-only scans from the start.
VACUUM_WEIGHTS = "VACUUM (ANALYZE) movie_neighbors"
ROLL_BACK = """
UPDATE recommender_state
SET active_model_id = previous_model_id, previous_model_id = active_model_id, published_at = now()
WHERE previous_model_id IS NOT NULL
RETURNING active_model_id, previous_model_id
"""
NEIGHBOR_COLUMNS = ("model_id", "movie_id", "neighbor_id", "weight")


class TrainingBusy(RuntimeError):
    """Another training holds the lock."""


class TooFewRatings(ValueError):
    """The stored ratings cannot make a meaningful model; the current one keeps serving."""


@dataclass(frozen=True)
class TrainingResult:
    """What one training did."""

    model_id: int
    ratings: int
    users: int
    movies: int
    weights: int
    seconds: float
    peak_rss_mb: float


def training_config(settings: Settings) -> TrainingConfig:
    """The model's hyper-parameters from the settings."""
    return TrainingConfig(
        l2=settings.train_l2, neighbours=settings.train_neighbours, max_movies=settings.train_max_movies
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


async def train_recommender(
    conn: asyncpg.Connection, settings: Settings, *, trigger: str = "cli", job_id: str | None = None
) -> TrainingResult:
    """Train on every stored rating and publish the model in one transaction; failures publish nothing."""
    if not await conn.fetchval(TRY_TRAIN_LOCK, TRAIN_LOCK_KEY):
        raise TrainingBusy("another training is in progress")
    try:
        await conn.execute(MARK_ABANDONED)
        config = training_config(settings)
        params = {**asdict(config), "dislike_below": settings.dislike_below, "like_threshold": settings.like_threshold}
        model_id = await conn.fetchval(START_TRAINING, config.method, trigger, job_id, json.dumps(params))
        started = time.perf_counter()
        ratings = [(row[0], row[1], row[2]) for row in await conn.fetch(ALL_RATINGS)]
        users = len({user for user, _, _ in ratings})
        try:
            _check_enough(ratings, users, settings)
            weights = await asyncio.to_thread(
                train_item_weights,
                ratings,
                config,
                like_threshold=settings.like_threshold,
                dislike_below=settings.dislike_below,
            )
            popular = [m for m, _ in Counter(m for _, m, _ in ratings).most_common(POPULAR_KEPT)]
            return await _publish(conn, model_id, weights, popular, started)
        except BaseException as error:  # also cancellation: record, then re-raise
            status = "failed" if isinstance(error, Exception) else "interrupted"
            message = str(error) if isinstance(error, TooFewRatings) else f"{type(error).__name__}: {error}"
            seconds = time.perf_counter() - started
            await asyncio.shield(
                conn.execute(FINISH_UNPUBLISHED, model_id, status, seconds, len(ratings), users, message)
            )
            raise
    finally:
        await conn.execute(RELEASE_TRAIN_LOCK, TRAIN_LOCK_KEY)


def _check_enough(ratings: list[tuple[int, int, float]], users: int, settings: Settings) -> None:
    if users < settings.train_min_users or len(ratings) < settings.train_min_ratings:
        raise TooFewRatings(
            f"too few ratings for a collaborative model: {len(ratings)} ratings by {users} users "
            f"(needs {settings.train_min_ratings} by {settings.train_min_users}: MOVIEREC_TRAIN_MIN_RATINGS, "
            "MOVIEREC_TRAIN_MIN_USERS); recommendations keep using content similarity and popularity"
        )


async def _publish(
    conn: asyncpg.Connection, model_id: int, weights: ItemWeights, popular: list[int], started: float
) -> TrainingResult:
    """Write the weights and make the model the active one, all in one transaction."""
    rows = [(model_id, movie, neighbour, weight) for movie, neighbour, weight in weights.rows()]
    async with conn.transaction():
        await conn.copy_records_to_table("movie_neighbors", records=rows, columns=NEIGHBOR_COLUMNS)
        seconds = time.perf_counter() - started
        peak = _peak_rss_mb()
        await conn.execute(
            MARK_READY, model_id, weights.ratings, weights.users, weights.movies, len(rows), seconds, peak, popular
        )
        await conn.execute(PUBLISH, model_id)
        await conn.execute(PRUNE_WEIGHTS)
    await conn.execute(VACUUM_WEIGHTS)
    return TrainingResult(model_id, weights.ratings, weights.users, weights.movies, len(rows), seconds, peak)


async def roll_back(conn: asyncpg.Connection) -> dict[str, Any] | None:
    """Serve the previous model again (the current one becomes the previous); None when there is none."""
    row = await conn.fetchrow(ROLL_BACK)
    return dict(row) if row else None
