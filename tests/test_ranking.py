"""The pure ranking core, unit by unit: no database, no model, hand-made vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.recs.ranking import (
    Candidate,
    ExampleStrategy,
    average_query,
    blend,
    example_scores,
    mmr,
    popularity_prior,
    profile_from_groups,
    rank_by_examples,
    rank_by_profile,
    rank_cold_start,
    taste_profile,
)
from app.vectors import neighbour_overlap, unit


def vec(*values: float) -> np.ndarray:
    vector = unit(np.array(values, dtype=np.float32))
    assert vector is not None
    return vector


def candidate(movie_id: int, vector: np.ndarray, score: float, *, ratings: int = 0) -> Candidate:
    movie = {"id": movie_id, "rating_count": ratings, "vote_count": None}
    return Candidate(movie=movie, vector=vector, similarity=score, score=score)


def test_mmr_without_diversity_keeps_score_order_and_breaks_ties_by_id() -> None:
    pool = [candidate(3, vec(1, 0), 0.5), candidate(1, vec(0, 1), 0.9), candidate(2, vec(1, 1), 0.5)]
    ranked = mmr(pool, 3, 0.0)
    assert [c.id for c in ranked] == [1, 2, 3]
    assert [c.rank for c in ranked] == [1, 2, 3]
    assert [c.rank for c in pool] == [0, 0, 0]  # the inputs are untouched


def test_mmr_with_diversity_prefers_a_different_second_movie() -> None:
    # 2 is a near copy of 1; 3 scores a little lower but points elsewhere.
    pool = [candidate(1, vec(1, 0), 0.9), candidate(2, vec(1, 0.01), 0.89), candidate(3, vec(0, 1), 0.8)]
    assert [c.id for c in mmr(pool, 2, 0.0)] == [1, 2]
    assert [c.id for c in mmr(pool, 2, 0.5)] == [1, 3]
    assert mmr([], 5, 0.5) == []


def test_taste_profile_weights_liked_movies_by_rating_and_ignores_the_rest() -> None:
    a, b, c = vec(1, 0, 0), vec(0, 1, 0), vec(0, 0, 1)
    profile = taste_profile([a, b, c], [5.0, 4.0, 1.0], like_threshold=3.5)
    assert profile == pytest.approx(vec(5, 4, 0), abs=1e-6)
    assert taste_profile([a], [3.0], like_threshold=3.5) is None


def test_profile_from_groups_equals_the_profile_from_every_rating() -> None:
    rng = np.random.default_rng(7)
    vectors = [vec(*rng.standard_normal(8)) for _ in range(12)]
    ratings = [5.0, 4.5, 4.0, 4.0, 3.5, 3.0, 2.0, 5.0, 4.5, 1.0, 4.0, 5.0]
    groups = []
    for value in sorted({r for r in ratings if r >= 3.5}):
        members = [v for v, r in zip(vectors, ratings, strict=True) if r == value]
        groups.append((value, len(members), np.mean(members, axis=0)))
    assert profile_from_groups(groups) == pytest.approx(taste_profile(vectors, ratings, 3.5), abs=1e-6)
    assert profile_from_groups([]) is None


def test_popularity_prior_and_blend() -> None:
    assert popularity_prior(0, None, 25.0) == 0.0
    assert popularity_prior(25, None, 25.0) == pytest.approx(1 - math.exp(-1))
    assert popularity_prior(0, 250, 25.0) == popularity_prior(25, 0, 25.0)  # ten votes count as one rating
    assert popularity_prior(10, None, 25.0) < popularity_prior(11, None, 25.0) < 1.0
    assert blend(0.8, 0.2, 0.25) == pytest.approx(0.65)


def test_rank_by_profile_blends_similarity_with_popularity() -> None:
    close_but_unknown = candidate(1, vec(1, 0), 0.9, ratings=0)
    known = candidate(2, vec(0, 1), 0.8, ratings=100)
    ranked = rank_by_profile([close_but_unknown, known], 2, 0.0, weight=0.3, scale=25.0)
    assert [c.id for c in ranked] == [2, 1]
    assert ranked[0].score == pytest.approx(0.7 * 0.8 + 0.3 * popularity_prior(100, None, 25.0))
    assert close_but_unknown.score == 0.9  # unchanged
    assert [c.id for c in rank_by_profile([close_but_unknown, known], 2, 0.0, weight=0.0, scale=25.0)] == [1, 2]


def test_cold_start_keeps_the_popularity_order() -> None:
    popular = [candidate(9, vec(1, 0), 0.0, ratings=50), candidate(4, vec(0, 1), 0.0, ratings=10)]
    ranked = rank_cold_start(popular, 2, 0.0, scale=25.0)
    assert [c.id for c in ranked] == [9, 4]
    assert ranked[0].popularity == pytest.approx(popularity_prior(50, None, 25.0)) and ranked[0].similarity == 0.0


def test_example_strategies() -> None:
    liked = np.stack([vec(1, 0, 0), vec(0, 1, 0)])
    disliked = np.stack([vec(0, 0, 1)])
    candidates = np.stack([vec(1, 0, 0), vec(0, 0.5, 1), vec(1, 1, 0)])
    best = example_scores(candidates, liked, disliked, ExampleStrategy.BEST_SCORE)
    assert best[0] == pytest.approx(1.0)
    assert best[1] < 0  # closer to the disliked example than to any liked one
    total = example_scores(candidates, liked, disliked, ExampleStrategy.SUM_SCORES)
    assert total[2] == pytest.approx(2 / math.sqrt(2))
    query = average_query(liked, disliked)
    assert query == pytest.approx(vec(1, 1, -1), abs=1e-6)
    average = example_scores(candidates, liked, disliked, ExampleStrategy.AVERAGE_VECTOR)
    assert average == pytest.approx(candidates @ query)
    only_liked = example_scores(candidates, liked, liked[:0], ExampleStrategy.BEST_SCORE)
    assert only_liked == pytest.approx((candidates @ liked.T).max(axis=1))


def test_rank_by_examples_sets_the_closest_liked_similarity() -> None:
    liked = np.stack([vec(1, 0)])
    pool = [candidate(1, vec(0, 1), 0.0), candidate(2, vec(1, 0.1), 0.0)]
    ranked = rank_by_examples(pool, liked, liked[:0], ExampleStrategy.BEST_SCORE, 2, 0.0)
    assert [c.id for c in ranked] == [2, 1]
    assert ranked[0].similarity == pytest.approx(float(vec(1, 0.1) @ vec(1, 0)))
    assert rank_by_examples([], liked, liked[:0], ExampleStrategy.SUM_SCORES, 2, 0.0) == []


def test_neighbour_overlap_counts_the_neighbours_two_sets_of_vectors_share() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert neighbour_overlap(vectors, vectors) == 1.0
    assert neighbour_overlap(vectors, vectors * 2.0) == 1.0  # a scale changes no ranking
    # Four points on a line: each one's single nearest neighbour by dot product is the largest other.
    line = np.array([[1.0], [2.0], [3.0], [4.0]])
    flipped = np.array([[4.0], [3.0], [2.0], [1.0]])
    assert neighbour_overlap(line, line, k=1) == 1.0
    # By dot product each item's nearest is the largest other: items 3, 3, 3, 2 in `line`; 1, 0, 0, 0 in `flipped`.
    assert neighbour_overlap(line, flipped, k=1) == 0.0
    assert neighbour_overlap(line, flipped, k=3) == 1.0  # with every other item counted, they agree
    unrelated = rng.normal(size=(50, 8)).astype(np.float32)
    assert neighbour_overlap(vectors, unrelated) < 0.5
