"""Ranking maths, free of I/O and of mutation: taste profiles, the popularity prior, blending, MMR, examples.

The API and `movierec evaluate` both rank with these functions, so what is measured is what is served.
Every function returns new values; candidates are immutable.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from app.vectors import FloatArray, unit


class ExampleStrategy(enum.Enum):
    """How liked and disliked example movies combine into one ranking."""

    AVERAGE_VECTOR = "average_vector"
    BEST_SCORE = "best_score"
    SUM_SCORES = "sum_scores"


@dataclass(frozen=True)
class HybridWeights:
    """How the hybrid blends its three parts (they sum to the score; see docs/evaluation.md)."""

    collaborative: float = 0.7
    content: float = 0.15
    popularity: float = 0.15


class Strategy(enum.Enum):
    """What produced a list of recommendations."""

    HYBRID = "hybrid"
    CONTENT_PROFILE = "content_profile"
    COLD_START_POPULAR = "cold_start_popular"
    SIMILAR_TO_MOVIE = "similar_to_movie"
    EXAMPLES = "examples"


@dataclass(frozen=True)
class Ranked:
    """A ranked list and the strategy that produced it."""

    items: list[Candidate]
    strategy: Strategy
    # How each item's score is made of its parts (personal lists); None where it is not a sum of them.
    weights: HybridWeights | None = None
    offset: int = 0
    has_more: bool = False


def page(ranked: Ranked, offset: int, limit: int) -> Ranked:
    """One page of a list ranked at least offset + limit + 1 deep (the extra item says more follow)."""
    more = len(ranked.items) > offset + limit
    return replace(ranked, items=ranked.items[offset : offset + limit], offset=offset, has_more=more)


@dataclass(frozen=True)
class Candidate:
    """A movie in a candidate pool: its row, vector and the parts of its score."""

    movie: Mapping[str, Any]
    vector: FloatArray
    similarity: float
    distance: float | None = None
    popularity: float = 0.0
    score: float = 0.0
    rank: int = 0
    collaborative: float = 0.0

    @property
    def id(self) -> int:
        """The movie id."""
        return int(self.movie["id"])


def taste_profile(vectors: Sequence[FloatArray], ratings: Sequence[float], like_threshold: float) -> FloatArray | None:
    """The rating-weighted mean of the movies rated at or above the threshold, normalised.

    Movies rated below the threshold get no weight at all, so disliking a film never pulls
    similar films up. None when the user likes nothing yet (a cold start).
    """
    liked = [(v, r) for v, r in zip(vectors, ratings, strict=True) if r >= like_threshold]
    if not liked:
        return None
    weights = np.array([r for _, r in liked], dtype=np.float32)
    stacked = np.stack([v for v, _ in liked]).astype(np.float32)
    return unit(weights @ stacked)


def profile_from_groups(groups: Sequence[tuple[float, int, FloatArray]]) -> FloatArray | None:
    """The same profile from (rating, movie count, mean vector) groups of liked ratings."""
    if not groups:
        return None
    total = sum(
        (rating * count * np.asarray(mean, dtype=np.float32) for rating, count, mean in groups),
        np.zeros(len(groups[0][2]), dtype=np.float32),
    )
    return unit(total)


def popularity_prior(rating_count: int, vote_count: int | None, scale: float) -> float:
    """In [0, 1): how established a movie is, from stored ratings and the catalogue's vote count."""
    evidence = rating_count + (vote_count or 0) / 10.0
    return 1.0 - math.exp(-evidence / scale)


def blend(similarity: float, prior: float, weight: float) -> float:
    """score = (1 - weight) * similarity + weight * popularity prior."""
    return (1.0 - weight) * similarity + weight * prior


def prior_of(candidate: Candidate, scale: float) -> float:
    """The popularity prior of a candidate's movie row."""
    return popularity_prior(candidate.movie["rating_count"], candidate.movie["vote_count"], scale)


def rank_by_profile(
    candidates: Sequence[Candidate], limit: int, diversity: float, *, weight: float, scale: float
) -> list[Candidate]:
    """Score = blend of similarity and the popularity prior, then MMR: how personal lists are ranked."""
    scored = []
    for c in candidates:
        prior = prior_of(c, scale)
        scored.append(replace(c, popularity=prior, score=blend(c.similarity, prior, weight)))
    return mmr(scored, limit, diversity)


def collaborative_part(raw: float, best: float) -> float:
    """A raw model score relative to the best one the user's positive ratings give any unseen film, in [-1, 1]."""
    return max(min(raw / best if best > 0 else raw, 1.0), -1.0)


def hybrid_score(collaborative: float, similarity: float, prior: float, weights: HybridWeights) -> float:
    """wc * collaborative part + ws * content similarity + wp * popularity prior."""
    return weights.collaborative * collaborative + weights.content * similarity + weights.popularity * prior


def rank_hybrid(
    candidates: Sequence[Candidate],
    collaborative: Mapping[int, float],
    best: float,
    limit: int,
    diversity: float,
    *,
    weights: HybridWeights,
    scale: float,
) -> list[Candidate]:
    """Score every candidate by `hybrid_score`, then MMR (similarity: each candidate's, to the taste profile).

    Raw collaborative scores are divided by the best score the user's positive ratings alone give
    any unseen film, so 1 is the strongest "people who liked what you liked" signal and a dislike
    lowers it; a film the model does not cover scores 0 there and can still rise on content
    similarity and popularity. Disliked films' neighbours go negative.
    """
    scored = []
    for c in candidates:
        part = collaborative_part(collaborative.get(c.id, 0.0), best)
        prior = prior_of(c, scale)
        score = hybrid_score(part, c.similarity, prior, weights)
        # The constructor, not dataclasses.replace: this runs for every candidate of every request.
        scored.append(Candidate(c.movie, c.vector, c.similarity, c.distance, prior, score, 0, part))
    return mmr(scored, limit, diversity)


def rank_cold_start(popular: Sequence[Candidate], limit: int, diversity: float, *, scale: float) -> list[Candidate]:
    """Popular movies in the order given (most popular first), with their prior; then MMR."""
    size = max(len(popular), 1)
    ordered = [
        replace(c, popularity=prior_of(c, scale), similarity=0.0, distance=None, score=1.0 - position / size)
        for position, c in enumerate(popular)
    ]
    return mmr(ordered, limit, diversity)


def mmr(candidates: Sequence[Candidate], limit: int, diversity: float) -> list[Candidate]:
    """Maximal marginal relevance with lambda = 1 - diversity; diversity 0 keeps score order.

    Deterministic: ties go to the lower movie id. Returns new candidates with their rank set.
    """
    ordered = sorted(candidates, key=lambda c: (-c.score, c.id))
    if diversity <= 0 or len(ordered) <= 1:
        chosen = ordered[:limit]
    else:
        relevance = 1.0 - diversity
        vectors = np.stack([c.vector for c in ordered])
        scores = np.array([c.score for c in ordered], dtype=np.float64)
        pairwise = vectors @ vectors.T
        picked: list[int] = [0]
        closest = pairwise[0].astype(np.float64).copy()  # max similarity to anything picked so far
        remaining = np.ones(len(ordered), dtype=bool)
        remaining[0] = False
        while len(picked) < min(limit, len(ordered)):
            value = relevance * scores - diversity * closest
            value[~remaining] = -np.inf
            best = int(np.argmax(value))  # argmax takes the first maximum: the lower id on ties
            picked.append(best)
            remaining[best] = False
            closest = np.maximum(closest, pairwise[best])
        chosen = [ordered[i] for i in picked]
    return [replace(c, rank=rank) for rank, c in enumerate(chosen, start=1)]


def example_scores(
    vectors: FloatArray, positives: FloatArray, negatives: FloatArray, strategy: ExampleStrategy
) -> npt.NDArray[np.float64]:
    """Similarity scores of candidate vectors (n x d) against liked and disliked examples.

    BEST_SCORE: the best liked similarity, unless a disliked example is closer, then minus that.
    SUM_SCORES: the sum of liked similarities minus the sum of disliked ones.
    AVERAGE_VECTOR: similarity to the averaged query vector (see `average_query`).
    """
    pos = (vectors @ positives.T).astype(np.float64)
    neg = (vectors @ negatives.T).astype(np.float64) if len(negatives) else np.zeros((len(vectors), 0))
    if strategy is ExampleStrategy.SUM_SCORES:
        return np.asarray(pos.sum(axis=1) - neg.sum(axis=1), dtype=np.float64)
    if strategy is ExampleStrategy.BEST_SCORE:
        best_pos = pos.max(axis=1)
        if not neg.shape[1]:
            return np.asarray(best_pos, dtype=np.float64)
        best_neg = neg.max(axis=1)
        return np.asarray(np.where(best_pos >= best_neg, best_pos, -best_neg), dtype=np.float64)
    query = average_query(positives, negatives)
    return (vectors @ query).astype(np.float64)


def rank_by_examples(
    candidates: Sequence[Candidate],
    positives: FloatArray,
    negatives: FloatArray,
    strategy: ExampleStrategy,
    limit: int,
    diversity: float,
) -> list[Candidate]:
    """Score candidates by the example strategy (similarity: to the closest liked example), then MMR."""
    if not candidates:
        return []
    vectors = np.stack([c.vector for c in candidates])
    scores = example_scores(vectors, positives, negatives, strategy)
    best = (vectors @ positives.T).max(axis=1)
    scored = [
        replace(c, score=float(score), similarity=float(similarity))
        for c, score, similarity in zip(candidates, scores, best, strict=True)
    ]
    return mmr(scored, limit, diversity)


def average_query(positives: FloatArray, negatives: FloatArray) -> FloatArray:
    """mean(liked) + (mean(liked) - mean(disliked)), normalised: away from what was disliked."""
    mean_pos = positives.mean(axis=0)
    query = mean_pos if not len(negatives) else 2 * mean_pos - negatives.mean(axis=0)
    result = unit(query)
    return result if result is not None else positives[0]
