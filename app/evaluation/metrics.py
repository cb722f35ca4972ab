"""Offline ranking metrics at K, pure functions over lists of movie ids (and vectors for diversity)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def recall_at_k(ranked: Sequence[int], relevant: Set[int], k: int) -> float:
    """Share of the relevant movies found in the top k."""
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def recall_of_needed(ranked: Sequence[int], relevant: Set[int], k: int, need: int) -> float:
    """Share of `need` relevant movies found in the top k, capped at 1 (need 1: a hit)."""
    return min(1.0, len(set(ranked[:k]) & relevant) / need) if need > 0 else 0.0


def ndcg_at_k(ranked: Sequence[int], relevant: Set[int], k: int) -> float:
    """Binary-relevance NDCG: DCG of the top k over the DCG of a perfect top k."""
    dcg = sum(1.0 / math.log2(position + 2) for position, movie in enumerate(ranked[:k]) if movie in relevant)
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank(ranked: Sequence[int], relevant: Set[int], k: int) -> float:
    """1 / the rank of the first relevant movie in the top k, 0 when there is none."""
    return next((1.0 / (position + 1) for position, movie in enumerate(ranked[:k]) if movie in relevant), 0.0)


def hit(ranked: Sequence[int], relevant: Set[int], k: int) -> float:
    """1 when any relevant movie is in the top k."""
    return 1.0 if set(ranked[:k]) & relevant else 0.0


def intra_list_diversity(vectors: npt.NDArray[np.float32]) -> float:
    """Mean pairwise cosine distance between unit vectors (0 for fewer than two)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    similarities = vectors @ vectors.T
    return float(1.0 - (similarities.sum() - np.trace(similarities)) / (n * (n - 1)))


@dataclass
class Scores:
    """Per-strategy accumulators; `summary` averages them."""

    recall: float = 0.0
    ndcg: float = 0.0
    mrr: float = 0.0
    hits: float = 0.0
    diversity: float = 0.0
    novelty: float = 0.0
    long_tail: float = 0.0
    users: int = 0

    def add(
        self,
        ranked: Sequence[int],
        relevant: Set[int],
        k: int,
        diversity: float,
        novelty: float,
        long_tail: float = 0.0,
    ) -> None:
        """Score one user's list (long_tail: the share of its slots given to little-rated films)."""
        self.recall += recall_at_k(ranked, relevant, k)
        self.ndcg += ndcg_at_k(ranked, relevant, k)
        self.mrr += reciprocal_rank(ranked, relevant, k)
        self.hits += hit(ranked, relevant, k)
        self.diversity += diversity
        self.novelty += novelty
        self.long_tail += long_tail
        self.users += 1

    def summary(self, coverage: float) -> dict[str, float]:
        """Means over the users scored, plus catalogue coverage."""
        n = max(self.users, 1)
        return {
            "recall": self.recall / n,
            "ndcg": self.ndcg / n,
            "mrr": self.mrr / n,
            "hit_rate": self.hits / n,
            "coverage": coverage,
            "diversity": self.diversity / n,
            "novelty": self.novelty / n,
            "long_tail": self.long_tail / n,
            "users": float(self.users),
        }


def mean_popularity_rank(ranked: Sequence[int], ranks: Mapping[int, int]) -> float:
    """Mean popularity rank of a list (1 = the most rated movie; unrated movies rank last)."""
    last = len(ranks) + 1
    return sum(ranks.get(movie, last) for movie in ranked) / len(ranked) if ranked else 0.0
