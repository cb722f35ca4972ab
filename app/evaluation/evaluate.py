"""`movierec evaluate`: hold out each user's most recent ratings and score every strategy on them.

Every personal strategy is ranked by the functions the API serves with (app.recs.personal.rank_personal,
rank_by_profile, taste_profile) over the same candidates: the same k-NN query, the model's top films, its
popular films. Only what is learned from differs: the collaborative models are trained inside the
evaluation on the training ratings alone, and popularity counts only those, so no held-out rating
reaches what scores it.
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
from app.evaluation.models import UserScores, fit_and_score
from app.recs.collaborative import TrainingConfig
from app.recs.hybrid import HybridPool
from app.recs.personal import rank_personal
from app.recs.ranking import Candidate, rank_by_profile, taste_profile
from app.recs.training import POPULAR_KEPT, training_config
from app.search.fallback import vector_fallback
from app.search.vectors import VectorSearch, pool_size
from app.settings import Settings
from app.vectors import FloatArray, as_array

RATINGS_IN_TIME_ORDER = """
SELECT user_id, movie_id, rating::float8 AS rating FROM ratings ORDER BY user_id, rated_at, movie_id
"""
ALL_EMBEDDINGS = "SELECT id, embedding, vote_count FROM movies WHERE embedding IS NOT NULL ORDER BY id"

STRATEGIES = (
    "random",
    "popularity",
    "content + popularity (no model)",
    "item-kNN, cosine (reference)",
    "collaborative only (EASE)",
    "hybrid (API default)",
    "hybrid, diversity 0.3",
)
LONG_TAIL = 5  # films with fewer training ratings than this count as long-tail slots


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
    """Ratings per user (oldest first) and the catalogue's vectors and vote counts, by row."""

    ratings: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # per user, oldest first
    ids: list[int] = field(default_factory=list)
    row: dict[int, int] = field(default_factory=dict)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    votes: dict[int, int | None] = field(default_factory=dict)


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
    data.vectors = np.stack([as_array(row["embedding"]) for row in rows]).astype(np.float32)
    data.votes = {row["id"]: row["vote_count"] for row in rows}
    return data


def split(ratings: list[tuple[int, float]], holdout: float) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(train, test): the most recent `holdout` share of a user's ratings (at least one) is the test."""
    test_size = max(1, math.ceil(holdout * len(ratings)))
    return ratings[:-test_size], ratings[-test_size:]


def profile_of(data: EvaluationData, ratings: list[tuple[int, float]], like_threshold: float) -> FloatArray | None:
    """A user's taste profile from (movie, rating) pairs: `taste_profile` over the stored vectors."""
    known = [(data.vectors[data.row[m]], r) for m, r in ratings if m in data.row]
    return taste_profile([v for v, _ in known], [r for _, r in known], like_threshold)


def training_ratings(
    splits: dict[int, tuple[list[tuple[int, float]], Any]], data: EvaluationData
) -> list[tuple[int, int, float]]:
    """What the models learn from: the training part of every evaluated user, nothing held out."""
    return [(u, m, r) for u, (train, _) in splits.items() for m, r in train if m in data.row]


class _Lists:
    """Builds one user's candidates the way the API does, from training-only counts and models."""

    def __init__(self, data: EvaluationData, counts: Counter[int], settings: Settings, k: int) -> None:
        self.data, self.counts, self.settings, self.k = data, counts, settings, k
        self.popular = sorted(data.ids, key=lambda m: (-counts[m], m))
        self.model_popular = self.popular[:POPULAR_KEPT]

    def candidate(self, movie: int, profile: FloatArray | None) -> Candidate:
        vector = self.data.vectors[self.data.row[movie]]
        row = {"id": movie, "rating_count": self.counts[movie], "vote_count": self.data.votes.get(movie)}
        similarity = float(vector @ profile) if profile is not None else 0.0
        return Candidate(movie=row, vector=vector, similarity=similarity)

    def by_model(self, scores: UserScores, user: int, seen: set[int]) -> dict[int, float]:
        rows = scores.of(user, {self.data.row[m] for m in seen if m in self.data.row})
        return {self.data.ids[r]: v for r, v in rows.items()}

    def top(self, raw: dict[int, float], n: int) -> list[int]:
        return [m for m, _ in sorted(raw.items(), key=lambda item: (-item[1], item[0]))[:n]]

    def hybrid(
        self, raw: dict[int, float], best: float, profile: FloatArray | None, rated: int, seen: set[int]
    ) -> HybridPool:
        """What app.recs.hybrid.load_hybrid_pools returns for the user: the model's top films and popular ones."""
        pool = pool_size(self.k)
        top = self.top(raw, pool)
        complete = len(top) >= pool
        picked = set(top) | (set() if complete else {m for m in self.model_popular if m not in seen})
        return HybridPool(
            model_id=1,
            rated=rated,
            best=best,
            has_profile=profile is not None,
            complete=complete,
            candidates=[self.candidate(m, profile) for m in sorted(picked)],
            collaborative={m: raw.get(m, 0.0) for m in picked},
        )


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
    train = training_ratings(splits, data)
    counts = Counter(movie for _, movie, _ in train)
    lists_of = _Lists(data, counts, settings, config.k)
    popularity_rank = {movie: rank for rank, movie in enumerate(lists_of.popular, start=1)}
    ease = fit_and_score(train, users, data.row, settings)
    knn = fit_and_score(
        train, users, data.row, settings, TrainingConfig(**{**vars(training_config(settings)), "method": "cosine"})
    )
    search = VectorSearch(settings, fallback=await vector_fallback(conn))  # exact, in process, without pgvector
    scores = {name: Scores() for name in STRATEGIES}
    recommended: dict[str, set[int]] = {name: set() for name in STRATEGIES}
    for user in users:
        user_train, test = splits[user]
        relevant = {m for m, r in test if r >= config.relevant_from and m in data.row}
        if not relevant:
            continue
        seen = {m for m, _ in user_train}
        unseen_popular = [m for m in lists_of.popular if m not in seen]
        profile = profile_of(data, user_train, settings.like_threshold)
        content: list[Candidate] = []
        if profile is not None:
            pool = await search.nearest(conn, profile, exclude=sorted(seen), limit=pool_size(config.k))
            content = [replace(c, movie={**c.movie, "rating_count": counts[c.id]}) for c in pool]
        no_model = rank_by_profile(
            content, config.k, 0.0, weight=settings.popularity_weight, scale=settings.popularity_scale
        )
        ease_raw = lists_of.by_model(ease, user, seen)
        hybrid = lists_of.hybrid(ease_raw, ease.best.get(user, 0.0), profile, len(user_train), seen)
        lists: dict[str, list[int]] = {
            "random": rng.sample([m for m in data.ids if m not in seen], config.k),
            "popularity": unseen_popular[: config.k],
            "content + popularity (no model)": [c.id for c in no_model]
            if profile is not None
            else unseen_popular[: config.k],
            "item-kNN, cosine (reference)": _filled(
                lists_of.top(lists_of.by_model(knn, user, seen), config.k), unseen_popular, config.k
            ),
            "collaborative only (EASE)": _filled(lists_of.top(ease_raw, config.k), unseen_popular, config.k),
        }
        for name, diversity in (("hybrid (API default)", 0.0), ("hybrid, diversity 0.3", 0.3)):
            ranked = rank_personal(profile, content, hybrid, settings, config.k, diversity)
            lists[name] = [c.id for c in ranked.items] if ranked is not None else unseen_popular[: config.k]
        for name, ranked_ids in lists.items():
            vectors = data.vectors[[data.row[m] for m in ranked_ids if m in data.row]]
            tail = sum(1 for m in ranked_ids if counts[m] < LONG_TAIL) / max(len(ranked_ids), 1)
            scores[name].add(
                ranked_ids,
                relevant,
                config.k,
                intra_list_diversity(vectors),
                mean_popularity_rank(ranked_ids, popularity_rank),
                tail,
            )
            recommended[name].update(ranked_ids)
    return {name: scores[name].summary(len(recommended[name]) / max(len(data.ids), 1)) for name in STRATEGIES}


def _filled(ranked: list[int], popular: list[int], k: int) -> list[int]:
    """A model's list topped up with popular films when the model reaches fewer than k."""
    extra = [m for m in popular if m not in set(ranked)]
    return (ranked + extra)[:k]


def table(results: dict[str, dict[str, float]], k: int) -> list[str]:
    """The results as a Markdown table."""
    header = (
        f"| strategy | Recall@{k} | NDCG@{k} | MRR | hit rate | coverage | diversity | novelty (mean pop. rank) "
        f"| slots to films with < {LONG_TAIL} ratings |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt: Callable[[dict[str, Any]], str] = lambda r: (  # noqa: E731
        f"{r['recall']:.4f} | {r['ndcg']:.4f} | {r['mrr']:.4f} | {r['hit_rate']:.3f} | {r['coverage']:.3f} | "
        f"{r['diversity']:.3f} | {r['novelty']:.0f} | {r['long_tail']:.3f}"
    )
    lines += [f"| {name} | {fmt(r)} |" for name, r in results.items()]
    users = int(next(iter(results.values()))["users"]) if results else 0
    return [*lines, "", f"{users} users with at least one relevant held-out movie."]
