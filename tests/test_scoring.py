"""The collaborative scores summed in the API process (app/recs/scoring.py), against the reference sum."""

from __future__ import annotations

import random

import numpy as np
import pytest

from app.recs.collaborative import score_user
from app.recs.scoring import ServedModel, contributions, reach

LIKE, DISLIKE = 3.5, 2.5


def _model(neighbours: dict[int, list[tuple[int, float]]]) -> ServedModel:
    """A served model built the way load_served_model builds one from movie_neighbors rows."""
    ids = np.unique([n for pairs in neighbours.values() for n, _ in pairs]).astype(np.int64)
    rows = {
        movie: (np.searchsorted(ids, [n for n, _ in pairs]), np.array([w for _, w in pairs], np.float64))
        for movie, pairs in neighbours.items()
    }
    return ServedModel(1, ids, rows)


def _random_neighbours(rng: random.Random, movies: int, per_movie: int) -> dict[int, list[tuple[int, float]]]:
    catalogue = rng.sample(range(1, 100_000), movies)  # sparse, unordered ids, as a real catalogue's
    return {
        movie: [(n, rng.uniform(0.001, 0.5)) for n in rng.sample([c for c in catalogue if c != movie], per_movie)]
        for movie in catalogue
    }


def test_the_scores_equal_the_reference_sum_with_rated_films_left_out() -> None:
    rng = random.Random(3)
    neighbours = _random_neighbours(rng, 300, 25)
    model = _model(neighbours)
    for _ in range(20):
        rated = {m: rng.choice([0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0]) for m in rng.sample(list(neighbours), 40)}
        rated[123_456_789] = 5.0  # a film the model does not know reaches nothing
        expected = score_user(rated, neighbours, like_threshold=LIKE, dislike_below=DISLIKE)
        reached = reach(model, list(rated.items()), like_threshold=LIKE, dislike_below=DISLIKE)
        assert dict(zip(reached.ids.tolist(), reached.scores.tolist(), strict=True)) == pytest.approx(expected)
        assert not set(reached.ids.tolist()) & set(rated)
        # best: what liked and watched films alone give the best unrated film (dislikes count as 0).
        positive = score_user(
            {m: r for m, r in rated.items() if r >= DISLIKE}, neighbours, like_threshold=LIKE, dislike_below=DISLIKE
        )
        assert reached.best == pytest.approx(max(positive.get(m, 0.0) for m in expected))


def test_the_top_films_are_ranked_by_score_then_id() -> None:
    model = _model({1: [(30, 0.5), (20, 0.5), (10, 0.2)], 2: [(40, 0.9)]})
    reached = reach(model, [(1, 5.0), (2, 1.0)], like_threshold=LIKE, dislike_below=DISLIKE)
    # 40 has 0.9 * -0.5 (a dislike); 20 and 30 tie at 0.5 and come by id.
    assert reached.top(3).ids.tolist() == [20, 30, 10]
    assert reached.top(10).ids.tolist() == [20, 30, 10, 40]
    assert reached.best == pytest.approx(0.5)


def test_a_user_with_nothing_the_model_knows_reaches_nothing() -> None:
    model = _model({1: [(2, 0.5)]})
    for rated in ([], [(99, 5.0)]):
        reached = reach(model, rated, like_threshold=LIKE, dislike_below=DISLIKE)
        assert len(reached.ids) == 0 and reached.best == 0.0
    # Rating the only film the model reaches leaves nothing either.
    reached = reach(model, [(1, 5.0), (2, 4.0)], like_threshold=LIKE, dislike_below=DISLIKE)
    assert reached.ids.tolist() == [] and reached.best == 0.0


def test_a_films_contributions_add_up_to_its_score_strongest_first() -> None:
    rng = random.Random(11)
    neighbours = _random_neighbours(rng, 200, 30)
    model = _model(neighbours)
    rated = [(m, rng.choice([1.0, 2.0, 3.0, 4.5])) for m in rng.sample(list(neighbours), 60)]
    reached = reach(model, rated, like_threshold=LIKE, dislike_below=DISLIKE)
    for target in reached.ids[:20].tolist():
        found = contributions(model, rated, target, like_threshold=LIKE, dislike_below=DISLIKE, limit=1000)
        assert sum(c for _, _, c in found) == pytest.approx(reached.score_of(target))
        assert [abs(c) for _, _, c in found] == sorted((abs(c) for _, _, c in found), reverse=True)
        assert {m for m, _, _ in found} == {m for m, _ in rated if target in dict(neighbours[m])}
        limited = contributions(model, rated, target, like_threshold=LIKE, dislike_below=DISLIKE, limit=2)
        assert limited == found[:2]
    assert contributions(model, rated, 123_456_789, like_threshold=LIKE, dislike_below=DISLIKE, limit=5) == []
    assert reached.score_of(123_456_789) == 0.0
