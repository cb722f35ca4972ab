"""The collaborative score of every film a user's ratings reach, computed in the API process.

The serving model's pruned weights (100 per movie: 8 MB of arrays for MovieLens-small, about 40 MB of
resident memory once read) are read once per model and kept; a request then adds up its user's rated
films' weight rows with numpy, which takes microseconds where summing them in PostgreSQL took
milliseconds (a median user reaches 6,100 weights).
The sums are exactly `sum_i x_ui * w_ij` over the rated films i, the films the user rated left out
(app/recs/collaborative.py: score_user, which evaluate's sparse product is tested against).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np
import numpy.typing as npt

from app.recs.collaborative import interaction
from app.vectors import from_array_send

# The serving model's id (NULL before the first training) and the users' ratings, in one statement.
RATINGS_AND_MODEL = """
SELECT (SELECT active_model_id FROM recommender_state) AS model_id, r.user_id, r.movie_id, r.rating
FROM (SELECT 1) AS one LEFT JOIN ratings r ON r.user_id = ANY($1::bigint[])
"""
# Every weight of a model in one row of three binary arrays, ordered by film: numpy reads them with
# no Python object per weight (633,000 ints and floats for MovieLens-small, whose freed heap stayed
# in the process: about 50 MB more resident memory than the weights themselves).
MODEL_WEIGHTS = """
SELECT array_send(array_agg(movie_id ORDER BY movie_id, neighbor_id)) AS movies,
       array_send(array_agg(neighbor_id ORDER BY movie_id, neighbor_id)) AS neighbours,
       array_send(array_agg(weight ORDER BY movie_id, neighbor_id)) AS weights
FROM movie_neighbors WHERE model_id = $1
"""


@dataclass(frozen=True)
class ServedModel:
    """One published model's weights: each movie's neighbours (as positions in `ids`) and their weights."""

    model_id: int
    ids: npt.NDArray[np.int64]  # position -> movie id, every movie the model's weights reach
    rows: Mapping[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]


@dataclass(frozen=True)
class Reached:
    """The unrated films one user's ratings reach, their scores, and the best score liked films alone give."""

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    best: float = 0.0

    def top(self, n: int) -> Reached:
        """The `n` best films, by score then id (as the list ranks them)."""
        order = np.lexsort((self.ids, -self.scores))[:n]
        return Reached(self.ids[order], self.scores[order], self.best)

    def score_of(self, movie_id: int) -> float:
        """One film's score: 0 when the ratings do not reach it (or it is rated)."""
        at = np.flatnonzero(self.ids == movie_id)
        return float(self.scores[at[0]]) if len(at) else 0.0


NOTHING_REACHED = Reached(np.empty(0, np.int64), np.empty(0, np.float64))


def reach(
    model: ServedModel, rated: Sequence[tuple[int, float]], *, like_threshold: float, dislike_below: float
) -> Reached:
    """Each unrated film's sum of x_ui * w_ij over the user's rated films i (x: LIKED, WATCHED or DISLIKED).

    `best` is the largest such sum from the liked and watched films alone (max(x, 0)): the scale a
    dislike lowers scores against.
    """
    parts = [(model.rows[m], interaction(r, like_threshold, dislike_below)) for m, r in rated if m in model.rows]
    if not parts:
        return NOTHING_REACHED
    positions = np.concatenate([neighbours for (neighbours, _), _ in parts])
    weights = np.concatenate([w for (_, w), _ in parts])
    xs = np.repeat([x for _, x in parts], [len(neighbours) for (neighbours, _), _ in parts])
    size = len(model.ids)
    counts = np.bincount(positions, minlength=size)
    scores = np.bincount(positions, weights=weights * xs, minlength=size)
    liked = np.bincount(positions, weights=weights * np.maximum(xs, 0.0), minlength=size)
    # The films the user rated leave the list: those among the reachable ones (ids is sorted).
    rated_ids = np.fromiter((m for m, _ in rated), np.int64, len(rated))
    at = np.searchsorted(model.ids, rated_ids)
    known = at < size
    known[known] = model.ids[at[known]] == rated_ids[known]
    counts[at[known]] = 0
    found = np.flatnonzero(counts)
    best = float(liked[found].max()) if len(found) else 0.0
    return Reached(model.ids[found], scores[found].astype(np.float64), best)


ACTIVE_MODEL = "SELECT active_model_id FROM recommender_state"
# How often an API process looks for a newly serving model, so the first list after a training does
# not wait for its weights (one tiny read; the request path reads the model's id itself anyway).
FOLLOW_EVERY_S = 1.0


def contributions(
    model: ServedModel,
    rated: Sequence[tuple[int, float]],
    target: int,
    *,
    like_threshold: float,
    dislike_below: float,
    limit: int,
) -> list[tuple[int, float, float]]:
    """The rated films whose weights reach `target`, as (film, rating, x_ui * w_i,target), strongest first.

    Their sum is the target's score (`reach`), unless the user rated the target itself.
    """
    at = int(np.searchsorted(model.ids, target))
    if at == len(model.ids) or model.ids[at] != target:
        return []
    found = []
    for movie, rating in rated:
        if movie not in model.rows:
            continue
        neighbours, weights = model.rows[movie]
        hit = np.flatnonzero(neighbours == at)
        if len(hit):
            found.append((movie, rating, float(weights[hit[0]]) * interaction(rating, like_threshold, dislike_below)))
    found.sort(key=lambda f: (-abs(f[2]), f[0]))
    return found[:limit]


class ServedModels:
    """The serving model's weights, read once per model: ahead of requests by `follow`, or on first use.

    The previous model's stay too, so a request that read the old id just before a switch does not
    read them again; older ones are dropped.
    """

    def __init__(self) -> None:
        self._models: dict[int, ServedModel] = {}
        self._loading = asyncio.Lock()

    async def get(self, conn: asyncpg.Connection, model_id: int | None) -> ServedModel | None:
        """The weights of `model_id` (None: no model serves)."""
        if model_id is None:
            return None
        if model_id not in self._models:
            async with self._loading:  # concurrent first requests read the weights once
                if model_id not in self._models:
                    loaded = await load_served_model(conn, model_id)
                    previous = list(self._models.values())[-1:]  # the model served until now
                    self._models = {**{m.model_id: m for m in previous}, model_id: loaded}
        return self._models[model_id]

    def holds(self, model_id: int) -> bool:
        """Whether this process has read the weights of `model_id`."""
        return model_id in self._models

    async def follow(self, conn: asyncpg.Connection) -> None:
        """Read the serving model's weights as soon as it serves (a background task of each API process)."""
        await self.get(conn, await conn.fetchval(ACTIVE_MODEL))


async def load_served_model(conn: asyncpg.Connection, model_id: int) -> ServedModel:
    """A model's weights from movie_neighbors."""
    row = await conn.fetchrow(MODEL_WEIGHTS, model_id)
    if row is None or row["movies"] is None:
        return ServedModel(model_id, np.empty(0, np.int64), {})
    movies = from_array_send(row["movies"], ">i8").astype(np.int64)
    ids, positions = np.unique(from_array_send(row["neighbours"], ">i8"), return_inverse=True)
    weights = from_array_send(row["weights"], ">f4").astype(np.float64)
    starts = np.flatnonzero(np.r_[True, movies[1:] != movies[:-1]])
    ends = np.r_[starts[1:], len(movies)]
    rows = {int(movies[a]): (positions[a:b], weights[a:b]) for a, b in zip(starts, ends, strict=True)}
    return ServedModel(model_id, ids.astype(np.int64), rows)


async def load_ratings_and_model(
    conn: asyncpg.Connection, users: Sequence[int]
) -> tuple[int | None, dict[int, list[tuple[int, float]]]]:
    """The serving model's id and each user's (movie, rating) pairs."""
    rows = await conn.fetch(RATINGS_AND_MODEL, list(users))
    ratings: dict[int, list[tuple[int, float]]] = {user: [] for user in users}
    for row in rows:
        if row["user_id"] is not None:
            ratings[row["user_id"]].append((row["movie_id"], float(row["rating"])))
    return (rows[0]["model_id"] if rows else None), ratings
