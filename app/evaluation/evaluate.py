"""`movierec evaluate`: hold out each user's most recent ratings and score every strategy on them.

Candidates come from the same k-NN query and are ranked by the same functions the API uses
(app.recs.ranking.rank_by_profile, taste_profile); only the ratings each user is profiled from differ:
the held-out ones are hidden, including from the popularity counts.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import numpy as np

from app.evaluation.metrics import Scores, intra_list_diversity, mean_popularity_rank
from app.recs.ranking import Candidate, rank_by_profile, taste_profile
from app.search.vectors import VectorSearch, pool_size
from app.settings import Settings
from app.vectors import FloatArray, unit

RATINGS_IN_TIME_ORDER = """
SELECT user_id, movie_id, rating::float8 AS rating FROM ratings ORDER BY user_id, rated_at, movie_id
"""
ALL_EMBEDDINGS = "SELECT id, embedding FROM movies WHERE embedding IS NOT NULL ORDER BY id"

STRATEGIES = (
    "random",
    "popularity",
    "content (similarity only)",
    "content + popularity (API default)",
    "content + popularity, diversity 0.3",
    "content, mean-centred profile",
    "content + popularity, popular candidates added",
)


@dataclass(frozen=True)
class EvaluationConfig:
    """How ratings are split and scored."""

    k: int = 10
    relevant_from: float = 4.0
    holdout: float = 0.2
    min_ratings: int = 5
    seed: int = 0
    max_users: int | None = None


@dataclass
class EvaluationData:
    """Ratings per user (oldest first) and the catalogue's vectors, by row."""

    ratings: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # per user, oldest first
    ids: list[int] = field(default_factory=list)
    row: dict[int, int] = field(default_factory=dict)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


async def load_data(conn: asyncpg.Connection) -> EvaluationData:
    """Every rating in time order and every stored vector."""
    data = EvaluationData()
    grouped: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for row in await conn.fetch(RATINGS_IN_TIME_ORDER):
        grouped[row["user_id"]].append((row["movie_id"], row["rating"]))
    data.ratings = dict(grouped)
    rows = await conn.fetch(ALL_EMBEDDINGS)
    data.ids = [row["id"] for row in rows]
    data.row = {movie: i for i, movie in enumerate(data.ids)}
    data.vectors = np.stack([row["embedding"].to_numpy() for row in rows]).astype(np.float32)
    return data


def split(ratings: list[tuple[int, float]], holdout: float) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train, test): the most recent `holdout` share of a user's ratings (at least one) is the test."""
    test_size = max(1, math.ceil(holdout * len(ratings)))
    return ratings[:-test_size], ratings[-test_size:]


def profile_of(data: EvaluationData, ratings: list[tuple[int, float]], like_threshold: float) -> FloatArray | None:
    """A user's taste profile from (movie, rating) pairs: `taste_profile` over the stored vectors."""
    known = [(data.vectors[data.row[m]], r) for m, r in ratings if m in data.row]
    return taste_profile([v for v, _ in known], [r for _, r in known], like_threshold)


async def evaluate(
    conn: asyncpg.Connection, settings: Settings, config: EvaluationConfig
) -> dict[str, dict[str, float]]:
    """Metrics at K for every strategy, averaged over users with at least one relevant held-out movie."""
    data = await load_data(conn)
    users = sorted(u for u, r in data.ratings.items() if len(r) >= config.min_ratings)
    rng = random.Random(config.seed)
    if config.max_users is not None and len(users) > config.max_users:
        users = sorted(rng.sample(users, config.max_users))
    splits = {u: split(data.ratings[u], config.holdout) for u in users}
    counts = Counter(movie for train, _ in splits.values() for movie, _ in train)
    popular = sorted((m for m in data.ids), key=lambda m: (-counts[m], m))
    popularity_rank = {movie: rank for rank, movie in enumerate(popular, start=1)}
    search = VectorSearch(settings)
    # (popularity weight, diversity) of each content strategy; the API's defaults in the middle.
    rankers = {
        "content (similarity only)": (0.0, 0.0),
        "content + popularity (API default)": (settings.popularity_weight, 0.0),
        "content + popularity, diversity 0.3": (settings.popularity_weight, 0.3),
    }
    scores = {name: Scores() for name in STRATEGIES}
    recommended: dict[str, set[int]] = {name: set() for name in STRATEGIES}
    for user in users:
        train, test = splits[user]
        relevant = {m for m, r in test if r >= config.relevant_from and m in data.row}
        if not relevant:
            continue
        seen = {m for m, _ in train}
        lists: dict[str, list[int]] = {
            "random": rng.sample([m for m in data.ids if m not in seen], config.k),
            "popularity": [m for m in popular if m not in seen][: config.k],
        }
        known = [(data.vectors[data.row[m]], r) for m, r in train if m in data.row]
        profile = profile_of(data, train, settings.like_threshold)
        if profile is None:  # the API's cold start: popular movies
            for name in rankers:
                lists[name] = lists["popularity"]
        else:
            pool = await search.nearest(conn, profile, exclude=sorted(seen), limit=pool_size(config.k))
            for name, (weight, diversity) in rankers.items():
                chosen = rank_by_profile(
                    _fresh(pool, counts), config.k, diversity, weight=weight, scale=settings.popularity_scale
                )
                lists[name] = [c.id for c in chosen]
        if profile is None:
            lists["content + popularity, popular candidates added"] = lists["popularity"]
        else:
            # Not what the API does (yet): widen the pool with the most popular unseen movies.
            extra = [m for m in popular if m not in seen][: pool_size(config.k)]
            in_pool = {c.id for c in pool}
            widened = _fresh(pool, counts) + [
                Candidate(
                    {"id": m, "rating_count": counts[m], "vote_count": None},
                    data.vectors[data.row[m]],
                    float(data.vectors[data.row[m]] @ profile),
                )
                for m in extra
                if m not in in_pool
            ]
            chosen = rank_by_profile(
                widened, config.k, 0.0, weight=settings.popularity_weight, scale=settings.popularity_scale
            )
            lists["content + popularity, popular candidates added"] = [c.id for c in chosen]
        centred = _mean_centred(known)
        lists["content, mean-centred profile"] = (
            [c.id for c in await search.nearest(conn, centred, exclude=sorted(seen), limit=config.k)]
            if centred is not None
            else lists["popularity"]
        )
        for name, ranked in lists.items():
            vectors = data.vectors[[data.row[m] for m in ranked if m in data.row]]
            scores[name].add(
                ranked, relevant, config.k, intra_list_diversity(vectors), mean_popularity_rank(ranked, popularity_rank)
            )
            recommended[name].update(ranked)
    return {name: scores[name].summary(len(recommended[name]) / max(len(data.ids), 1)) for name in STRATEGIES}


def _fresh(pool: list[Candidate], counts: Counter[int]) -> list[Candidate]:
    """Copies of the candidates whose popularity counts only the training ratings."""
    return [replace(c, movie={**c.movie, "rating_count": counts[c.id]}) for c in pool]


def _mean_centred(known: list[tuple[np.ndarray, float]]) -> np.ndarray | None:
    """sum((rating - the user's mean) * vector): the variant the ratings-weighted profile beat."""
    if not known:
        return None
    mean = sum(r for _, r in known) / len(known)
    return unit(sum(((r - mean) * v for v, r in known), np.zeros_like(known[0][0])))


def table(results: dict[str, dict[str, float]], k: int) -> list[str]:
    """The results as a Markdown table."""
    header = f"| strategy | Recall@{k} | NDCG@{k} | MRR | hit rate | coverage | diversity | novelty (mean pop. rank) |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    fmt: Callable[[dict[str, Any]], str] = lambda r: (  # noqa: E731
        f"{r['recall']:.4f} | {r['ndcg']:.4f} | {r['mrr']:.4f} | {r['hit_rate']:.3f} | {r['coverage']:.3f} | "
        f"{r['diversity']:.3f} | {r['novelty']:.0f}"
    )
    lines += [f"| {name} | {fmt(r)} |" for name, r in results.items()]
    users = int(next(iter(results.values()))["users"]) if results else 0
    return [*lines, "", f"{users} users with at least one relevant held-out movie."]
