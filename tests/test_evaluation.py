"""`movierec evaluate`: metrics checked against hand-computed values, and a run on a small fixture."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from app.catalogue.importers.demo import import_demo
from app.embeddings.pipeline import embed_movies
from app.evaluation.evaluate import STRATEGIES, EvaluationConfig, evaluate, split
from app.evaluation.metrics import (
    hit,
    intra_list_diversity,
    mean_popularity_rank,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)
from app.settings import Settings
from tests.fakes import FakeEmbedder


def test_metrics_by_hand() -> None:
    ranked, relevant = [10, 20, 30, 40], {20, 40, 99}
    assert recall_at_k(ranked, relevant, 3) == pytest.approx(1 / 3)  # 20 found, of 3 relevant
    assert recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    # DCG@4 = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3) + 1/log2(4)
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5)
    )
    assert reciprocal_rank(ranked, relevant, 4) == 0.5
    assert reciprocal_rank(ranked, relevant, 1) == 0.0
    assert (hit(ranked, relevant, 1), hit(ranked, relevant, 2)) == (0.0, 1.0)
    assert mean_popularity_rank([1, 2], {1: 1, 2: 3}) == 2.0
    vectors = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)  # distances 1, 0, 1
    assert intra_list_diversity(vectors) == pytest.approx(2 / 3)


def test_split_holds_out_the_latest_fifth() -> None:
    ratings = [(i, 4.0) for i in range(10)]
    train, test = split(ratings, 0.2)
    assert [m for m, _ in test] == [8, 9] and len(train) == 8
    assert split(ratings[:5], 0.2)[1] == [(4, 4.0)]


async def test_evaluation_on_the_demo_catalogue(conn: asyncpg.Connection) -> None:
    await import_demo(conn)
    await embed_movies(conn, FakeEmbedder(model_name="all-MiniLM-L6-v2"))
    # One user who rates ten movies over time; the last two (the held-out fifth) are liked.
    user = await conn.fetchval("INSERT INTO users (name) VALUES ('eval') RETURNING id")
    movies = [r["id"] for r in await conn.fetch("SELECT id FROM movies ORDER BY id LIMIT 10")]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i, movie in enumerate(movies):
        await conn.execute(
            "INSERT INTO ratings (user_id, movie_id, rating, rated_at) VALUES ($1, $2, $3, $4)",
            user,
            movie,
            5.0 if i >= 8 or i % 2 else 2.0,
            start + timedelta(days=i),
        )
    results = await evaluate(conn, Settings(), EvaluationConfig(k=5, seed=1))
    assert list(results) == list(STRATEGIES)
    # Demo users' held-out ratings count too: every strategy scored the same users.
    assert len({r["users"] for r in results.values()}) == 1 and results["random"]["users"] >= 2
    for metrics in results.values():
        assert 0 <= metrics["recall"] <= 1 and 0 <= metrics["ndcg"] <= 1 and 0 < metrics["coverage"] <= 1
    again = await evaluate(conn, Settings(), EvaluationConfig(k=5, seed=1))
    assert again == results  # deterministic for a seed


async def test_the_api_profile_equals_the_profile_evaluate_computes(demo_database_url: str) -> None:
    """What is measured is what is served: the SQL-aggregated profile and evaluate's, from the same ratings."""
    from app.db.connections import connect
    from app.evaluation.evaluate import load_data, profile_of
    from app.recs.profiles import load_profiles

    settings = Settings()
    conn = await connect(demo_database_url)
    try:
        data = await load_data(conn)
        users = await conn.fetch("SELECT id FROM users ORDER BY id")
        served = await load_profiles(conn, [u["id"] for u in users], settings.like_threshold)
    finally:
        await conn.close()
    assert len(served) == 5
    for user, profile in served.items():
        measured = profile_of(data, data.ratings.get(user, []), settings.like_threshold)
        if measured is None:
            assert profile is None
        else:
            assert profile == pytest.approx(measured, abs=1e-5)
    assert sum(profile is not None for profile in served.values()) == 4  # Eve has no ratings


async def _clustered(demo_database_url: str) -> asyncpg.Connection:
    from app.db.connections import connect
    from tests.taste_clusters import seed_taste_clusters

    conn = await connect(demo_database_url)
    await seed_taste_clusters(conn)
    return conn


async def test_no_held_out_rating_reaches_the_models_or_the_popularity_counts(
    demo_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.evaluation.evaluate as evaluation

    trained_on: list[list[tuple[int, int, float]]] = []
    counted: list[Counter[int]] = []
    fit = evaluation.fit_and_score

    def spy_fit(train: list[tuple[int, int, float]], *args: object, **kwargs: object) -> object:
        trained_on.append(list(train))
        return fit(train, *args, **kwargs)  # type: ignore[arg-type]

    class SpyLists(evaluation._Lists):
        def __init__(self, data: object, counts: Counter[int], *args: object) -> None:
            counted.append(counts)
            super().__init__(data, counts, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluation, "fit_and_score", spy_fit)
    monkeypatch.setattr(evaluation, "_Lists", SpyLists)
    conn = await _clustered(demo_database_url)
    try:
        config = EvaluationConfig(k=10)
        results = await evaluation.evaluate(conn, Settings(), config)
        data = await evaluation.load_data(conn)
    finally:
        await conn.close()
    assert results["hybrid (API default)"]["users"] > 50
    held_out = {
        (user, movie)
        for user, ratings in data.ratings.items()
        if len(ratings) >= config.min_ratings
        for movie, _ in split(ratings, config.holdout)[1]
    }
    assert len(trained_on) == 2 and len(held_out) > 100  # EASE and the item-kNN reference
    for train in trained_on:
        assert {(u, m) for u, m, _ in train}.isdisjoint(held_out)
    kept = [(u, m) for u, m, _ in trained_on[0]]
    assert counted[0] == Counter(m for _, m in kept)


async def test_the_collaborative_scores_served_equal_those_evaluate_measures(demo_database_url: str) -> None:
    """The API's sums over the published model and evaluate's sparse product give the same numbers."""
    from app.evaluation.evaluate import load_data, profile_of
    from app.evaluation.models import fit_and_score
    from app.recs.hybrid import load_hybrid_pools
    from app.recs.scoring import ServedModels
    from app.recs.training import train_recommender
    from app.search.filters import NO_FILTER

    settings = Settings(train_min_users=3, train_min_ratings=20)
    conn = await _clustered(demo_database_url)
    try:
        await train_recommender(conn, settings)
        data = await load_data(conn)
        users = sorted(data.ratings)[:8]
        served = await load_hybrid_pools(conn, settings, users, NO_FILTER, 50, models=ServedModels())
    finally:
        await conn.close()
    every = [(u, m, r) for u, ratings in data.ratings.items() for m, r in ratings]
    measured = fit_and_score(every, users, data.row, settings)
    for user in users:
        seen = {data.row[m] for m, _ in data.ratings[user]}
        raw = {data.ids[row]: value for row, value in measured.of(user, seen).items()}
        pool = served[user]
        assert pool.best == pytest.approx(measured.best[user], rel=1e-4)
        assert pool.collaborative
        for movie, value in pool.collaborative.items():
            assert value == pytest.approx(raw.get(movie, 0.0), rel=1e-4, abs=1e-6)
        # The similarity the query computes to the taste profile is evaluate's profile . vector.
        profile = profile_of(data, data.ratings[user], settings.like_threshold)
        assert pool.has_profile == (profile is not None)
        for candidate in pool.candidates:
            expected = float(data.vectors[data.row[candidate.id]] @ profile) if profile is not None else 0.0
            assert candidate.similarity == pytest.approx(expected, abs=1e-5)
