"""The collaborative model's maths: EASE against a dense reference, pruning, scoring, bounds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from app.recs.collaborative import (
    DISLIKED,
    LIKED,
    WATCHED,
    TrainingConfig,
    ease_weights,
    interaction,
    score_user,
    top_neighbours,
    train_item_weights,
)


def test_ease_matches_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random((40, 12)) < 0.3).astype(np.float32)
    l2 = 5.0
    precision = np.linalg.inv(dense.T @ dense + l2 * np.eye(12))
    expected = np.eye(12) - precision / np.diag(precision)[np.newaxis, :]
    np.fill_diagonal(expected, 0.0)
    weights = ease_weights(scipy.sparse.csr_matrix(dense), l2)
    assert weights == pytest.approx(expected, abs=1e-4)
    assert np.all(np.diag(weights) == 0)


def test_top_neighbours_keeps_the_k_largest_positive_weights_per_movie() -> None:
    weights = np.array([[0, 3, 1, -2], [5, 0, -1, 4], [-1, -1, 0, -1], [1, 2, 3, 0]], dtype=np.float32)
    rows, columns, kept = top_neighbours(weights, 2)
    got = sorted(zip(rows.tolist(), columns.tolist(), kept.tolist(), strict=True))
    assert got == [(0, 1, 3.0), (0, 2, 1.0), (1, 0, 5.0), (1, 3, 4.0), (3, 1, 2.0), (3, 2, 3.0)]


def test_interactions() -> None:
    assert interaction(5.0, 3.5, 2.5) == LIKED
    assert interaction(3.0, 3.5, 2.5) == WATCHED
    assert interaction(2.0, 3.5, 2.5) == DISLIKED < 0


def _clustered_ratings() -> list[tuple[int, int, float]]:
    """Two tastes: users 1-20 watch movies 1-5, users 21-40 movies 6-10; everybody saw movie 11."""
    ratings = []
    for user in range(1, 41):
        block = range(1, 6) if user <= 20 else range(6, 11)
        for movie in block:
            if (user + movie) % 4:  # each user misses some of their block
                ratings.append((user, movie, 4.5))
        ratings.append((user, 11, 3.0))
    return ratings


def test_training_learns_who_likes_what_and_scores_like_the_sql_aggregate() -> None:
    model = train_item_weights(_clustered_ratings(), TrainingConfig(l2=10.0), like_threshold=3.5, dislike_below=2.5)
    assert model.movies == 11 and model.users == 40
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for movie, neighbour, weight in model.rows():
        neighbours.setdefault(movie, []).append((neighbour, weight))
    scores = score_user({1: 5.0, 2: 4.0}, neighbours, like_threshold=3.5, dislike_below=2.5)
    best = max(scores, key=lambda m: scores[m])
    assert best in {3, 4, 5}  # the rest of the same taste
    assert all(scores.get(m, 0.0) < scores[best] for m in range(6, 11))
    assert 1 not in scores and 2 not in scores  # rated movies are never scored


def test_a_disliked_movie_pushes_its_neighbours_down() -> None:
    model = train_item_weights(_clustered_ratings(), TrainingConfig(l2=10.0), like_threshold=3.5, dislike_below=2.5)
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for movie, neighbour, weight in model.rows():
        neighbours.setdefault(movie, []).append((neighbour, weight))
    liked = score_user({1: 5.0}, neighbours, like_threshold=3.5, dislike_below=2.5)
    disliked = score_user({1: 5.0, 6: 1.0}, neighbours, like_threshold=3.5, dislike_below=2.5)
    assert disliked.get(7, 0.0) < liked.get(7, 0.0)


def test_bounds_on_the_matrix() -> None:
    ratings = _clustered_ratings()
    model = train_item_weights(ratings, TrainingConfig(max_movies=4), like_threshold=3.5, dislike_below=2.5)
    assert model.movies == 4  # the four most rated
    assert 11 in set(model.movie_ids.tolist())
    with pytest.raises(ValueError, match="no ratings"):
        train_item_weights([], TrainingConfig(), like_threshold=3.5, dislike_below=2.5)
    with pytest.raises(ValueError, match="too few movies"):
        train_item_weights([(1, 1, 4.0)], TrainingConfig(), like_threshold=3.5, dislike_below=2.5)


def test_cosine_reference_is_symmetric_with_a_zero_diagonal() -> None:
    model = train_item_weights(
        _clustered_ratings(), TrainingConfig(method="cosine", neighbours=3), like_threshold=3.5, dislike_below=2.5
    )
    pairs = {(m, n): w for m, n, w in model.rows()}
    assert all(m != n for m, n in pairs)
    assert all(pairs.get((n, m), w) == pytest.approx(w) for (m, n), w in pairs.items())
