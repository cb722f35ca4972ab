"""The collaborative model end to end: training, atomic publication, the hybrid, explanations, rollback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from app.db.connections import connect
from app.recs.scoring import MODEL_WEIGHTS, ServedModel, load_served_model
from app.recs.training import TRAIN_LOCK_KEY, TooFewRatings, TrainingBusy, TrainingResult, train_recommender
from app.settings import Settings
from tests.api_support import Api
from tests.taste_clusters import CLUSTERS, SEED_RATINGS

pytestmark = pytest.mark.model

SMALL = {"train_min_users": 3, "train_min_ratings": 20}
RECOMMEND = """query($userId: ID, $limit: Int! = 10) { recommendations(limit: $limit, userId: $userId) {
  strategy items { rank score similarity popularity collaborative movie { id title genres }
    breakdown { collaborative content popularity collaborativeWeight contentWeight popularityWeight } } } }"""
EXPLAIN = """query($movieId: ID!, $userId: ID) { explainRecommendation(movieId: $movieId, userId: $userId) {
  strategy score text breakdown { collaborative similarity popularity score }
  peopleAlsoLiked { yourRating contribution movie { id title } } } }"""


def train(api: Api, **overrides: Any) -> TrainingResult:
    """Train on the API's database with these settings (SMALL thresholds unless overridden)."""

    async def run() -> TrainingResult:
        conn = await connect(api.database_url)
        try:
            return await train_recommender(conn, Settings(**{**SMALL, **overrides}))
        finally:
            await conn.close()

    return asyncio.run(run())


def seed(api: Api) -> None:
    api.sql(SEED_RATINGS, 60, list(CLUSTERS))


def synthetic_user(api: Api, cluster: int) -> int:
    """A synthetic rater of the given cluster (0 science fiction, 1 crime, 2 animation)."""
    rows = api.sql("SELECT id FROM users WHERE source = 'synthetic' AND source_key::int % 3 = $1 ORDER BY id", cluster)
    return int(rows[0]["id"])


def recommend(api: Api, user: int, limit: int = 10) -> dict[str, Any]:
    return api.data(RECOMMEND, {"userId": str(user), "limit": limit}, user=user)["recommendations"]


def test_too_few_ratings_trains_nothing_and_content_keeps_serving(api: Api) -> None:
    with pytest.raises(TooFewRatings, match="too few ratings"):
        train(api, train_min_users=20, train_min_ratings=1000)  # the demo's 4 raters
    assert api.sql("SELECT status FROM recommender_models")[0]["status"] == "failed"
    assert recommend(api, 1)["strategy"] == "CONTENT_PROFILE"
    assert api.data("{ stats { recommender { id } } }")["stats"]["recommender"] is None


def test_a_trained_model_serves_the_hybrid_and_its_parts_add_up(api: Api) -> None:
    seed(api)
    before = recommend(api, 1)
    assert before["strategy"] == "CONTENT_PROFILE"
    result = train(api)
    assert result.users == 64 and result.weights > 0
    after = recommend(api, 1)
    assert after["strategy"] == "HYBRID"
    for item in after["items"]:
        parts = item["breakdown"]
        assert parts["collaborative"] + parts["content"] + parts["popularity"] == pytest.approx(item["score"], abs=1e-6)
    # A science-fiction rater is recommended science fiction.
    fan = synthetic_user(api, 0)
    top = recommend(api, fan)["items"][:5]
    assert sum("Science Fiction" in item["movie"]["genres"] for item in top) >= 4
    stats = api.data("{ stats { recommender { id status active users ratings movies } } }")["stats"]["recommender"]
    assert stats == {
        "id": str(result.model_id),
        "status": "ready",
        "active": True,
        "users": 64,
        "ratings": result.ratings,
        "movies": result.movies,
    }


def test_a_rating_counts_at_once_and_a_low_one_pushes_similar_films_down(api: Api) -> None:
    seed(api)
    train(api)
    fan = synthetic_user(api, 2)  # animation
    first = recommend(api, fan, 20)["items"]
    target = first[0]["movie"]["id"]
    # The film the model ties most strongly to the top recommendation, one the fan has not rated.
    neighbour = api.sql(
        """SELECT n.movie_id FROM movie_neighbors n JOIN recommender_state s ON n.model_id = s.active_model_id
           WHERE n.neighbor_id = $1
             AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.user_id = $2 AND r.movie_id = n.movie_id)
           ORDER BY n.weight DESC LIMIT 1""",
        int(target),
        fan,
    )[0]["movie_id"]
    api.data('mutation { rateMovie(movieId: "%s", rating: 1.0) { rating } }' % neighbour, user=fan)
    second = {item["movie"]["id"]: item for item in recommend(api, fan, 100)["items"]}
    assert str(neighbour) not in second  # just rated: gone from the list
    assert target not in second or second[target]["score"] < first[0]["score"]
    explanation = api.data(EXPLAIN, {"movieId": target, "userId": str(fan)}, user=fan)["explainRecommendation"]
    assert any(e["movie"]["id"] == str(neighbour) and e["contribution"] < 0 for e in explanation["peopleAlsoLiked"])
    assert "pushes films like it down" in explanation["text"]


def test_explanations_are_the_scores_the_list_served(api: Api) -> None:
    seed(api)
    train(api)
    fan = synthetic_user(api, 1)  # crime
    items = recommend(api, fan)["items"][:4]
    for item in items:
        explained = api.data(EXPLAIN, {"movieId": item["movie"]["id"]}, user=fan)["explainRecommendation"]
        assert explained["strategy"] == "HYBRID"
        assert explained["score"] == pytest.approx(item["score"], abs=1e-5)
        assert explained["breakdown"]["collaborative"] == pytest.approx(item["collaborative"], abs=1e-6)
    best = api.data(EXPLAIN, {"movieId": items[0]["movie"]["id"]}, user=fan)["explainRecommendation"]
    assert best["peopleAlsoLiked"] and best["peopleAlsoLiked"][0]["contribution"] > 0
    assert "people who liked" in best["text"]


def test_people_who_liked_this_also_liked(api: Api) -> None:
    query = '{ movie(id: "%s") { alsoLiked(limit: 5) { weight movie { genres } } } }'
    sci_fi = api.sql("SELECT id FROM movies WHERE 'Science Fiction' = ANY(genres) ORDER BY id LIMIT 1")[0]["id"]
    assert api.data(query % sci_fi)["movie"]["alsoLiked"] == []  # no model yet
    seed(api)
    train(api)
    liked = api.data(query % sci_fi)["movie"]["alsoLiked"]
    assert 1 <= len(liked) <= 5
    assert [x["weight"] for x in liked] == sorted((x["weight"] for x in liked), reverse=True)
    assert sum("Science Fiction" in x["movie"]["genres"] for x in liked) >= len(liked) - 1
    assert api.error_code('{ movie(id: "1") { alsoLiked(limit: 50) { weight } } }') == "BAD_USER_INPUT"


def test_rollback_serves_the_previous_model(api: Api) -> None:
    rollback = "mutation { rollbackRecommender { id active } }"
    assert api.error_code(rollback, user=1, admin=True) == "NOT_FOUND"
    seed(api)
    first = train(api)
    second = train(api, train_neighbours=10)
    models = api.data("{ recommenderModels { id active previous } }", user=1, admin=True)["recommenderModels"]
    assert models[:2] == [
        {"id": str(second.model_id), "active": True, "previous": False},
        {"id": str(first.model_id), "active": False, "previous": True},
    ]
    assert api.data(rollback, user=1, admin=True)["rollbackRecommender"] == {"id": str(first.model_id), "active": True}
    assert api.error_code(rollback, user=2) == "FORBIDDEN"
    kept = api.sql("SELECT DISTINCT model_id FROM movie_neighbors ORDER BY model_id")
    assert [r["model_id"] for r in kept] == [first.model_id, second.model_id]
    third = train(api)  # publishing prunes whatever is neither serving nor previous
    kept = api.sql("SELECT DISTINCT model_id FROM movie_neighbors ORDER BY model_id")
    assert [r["model_id"] for r in kept] == [first.model_id, third.model_id]


def test_two_trainings_never_overlap(api: Api) -> None:
    seed(api)

    async def run() -> None:
        holder = await asyncpg.connect(api.database_url)
        await holder.execute("SELECT pg_advisory_lock($1)", TRAIN_LOCK_KEY)
        conn = await connect(api.database_url)
        try:
            with pytest.raises(TrainingBusy):
                await train_recommender(conn, Settings(**SMALL))
        finally:
            await conn.close()
            await holder.close()

    asyncio.run(run())
    assert api.sql("SELECT count(*) FROM recommender_models")[0][0] == 0


def test_round_trips_stay_bounded_with_a_model(api: Api) -> None:
    seed(api)
    train(api)
    fan = synthetic_user(api, 0)
    recommend_query = "{ recommendations(limit: %d) { items { movie { title } } } }"
    # The process reads a model's weights at most once (its background task may have read them first).
    api.queries.clear()
    for user in (fan, 1, fan):
        api.data(recommend_query % 5, user=user)
    assert api.queries.count(MODEL_WEIGHTS) <= 1
    # The model offers a full pool: the ratings (scored in process) and the candidates. At 60 (a pool of
    # 300 in a 206-film catalogue) it does not, and the profile and the content k-NN join in.
    assert api.count_queries(recommend_query % 5, user=fan) == 2
    assert api.count_queries(recommend_query % 60, user=fan) <= 6
    batch = "{ recommendationsForUsers(userIds: [%s], limit: 10) { items { movie { title } } } }"
    one = api.count_queries(batch % f'"{fan}"', user=9, admin=True)
    many = api.count_queries(batch % ", ".join(f'"{u}"' for u in (1, 2, 3, 4, 5, fan)), user=9, admin=True)
    assert one <= many <= 7


def test_a_running_api_reads_a_newly_published_model_ahead_of_its_lists(api: Api) -> None:
    seed(api)
    first = train(api)
    fan = synthetic_user(api, 0)
    before = recommend(api, fan)
    # One weight per movie instead of 100: the fan's scores change, and the list with them, only if the
    # API adds up the new weights rather than the ones it holds in memory.
    second = train(api, train_neighbours=1)
    assert second.model_id != first.model_id
    models = api.client.app_state["services"].recommender.models
    deadline = time.monotonic() + 10
    while not models.holds(second.model_id):  # the background task reads it within about a second
        assert time.monotonic() < deadline, "the new model's weights were never read"
        time.sleep(0.1)
    api.queries.clear()
    after = recommend(api, fan)
    assert api.queries.count(MODEL_WEIGHTS) == 0  # no list waited for them
    assert [i["score"] for i in after["items"]] != [i["score"] for i in before["items"]]
    assert models.holds(first.model_id)  # the model served until now stays, for requests that read its id
    third = train(api)
    while not models.holds(third.model_id):
        assert time.monotonic() < deadline + 10, "the third model's weights were never read"
        time.sleep(0.1)
    assert models.holds(second.model_id) and not models.holds(first.model_id)  # two at most


def test_films_nobody_rated_reach_a_hybrid_list_through_content(api: Api) -> None:
    seed(api)
    westerns = [r["id"] for r in api.sql("SELECT id FROM movies WHERE 'Western' = ANY(genres) ORDER BY id")]
    assert len(westerns) == 2
    api.sql("DELETE FROM ratings WHERE movie_id = ANY($1::bigint[])", westerns)
    train(api)  # the model has never seen a western
    fan = synthetic_user(api, 0)
    query = (
        '{ recommendations(limit: 2, filter: {genres: ["Western"]}) { strategy items { movie { id ratingCount } } } }'
    )
    listed = api.data(query, user=fan)["recommendations"]
    assert listed["strategy"] == "HYBRID"
    assert sorted(int(item["movie"]["id"]) for item in listed["items"]) == westerns
    assert all(item["movie"]["ratingCount"] == 0 for item in listed["items"])


def test_a_user_who_only_disliked_gets_the_hybrid_pushed_away_from_those_films(api: Api) -> None:
    seed(api)
    train(api)
    animation = [r["id"] for r in api.sql("SELECT id FROM movies WHERE 'Animation' = ANY(genres) ORDER BY id LIMIT 3")]
    for movie in animation:
        api.data('mutation { rateMovie(movieId: "%s", rating: 0.5) { rating } }' % movie, user=5)  # Eve
    listed = recommend(api, 5)
    assert listed["strategy"] == "HYBRID"  # not the generic popular list
    assert all(item["collaborative"] <= 0 for item in listed["items"])
    assert sum("Animation" in item["movie"]["genres"] for item in listed["items"]) <= 1


def test_the_train_command_refuses_too_few_ratings_with_a_clear_line(api: Api) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DATABASE_URL": api.database_url, "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "app", "train"], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "too few ratings for a collaborative model" in done.stderr and "keeps serving" in done.stderr
    rollback = subprocess.run(
        [sys.executable, "-m", "app", "train", "--rollback"], cwd=root, env=env, capture_output=True, text=True
    )
    assert rollback.returncode == 1 and "no previous model" in rollback.stderr


def read_model(api: Api, model_id: int) -> ServedModel:
    """A model's weights as an API process reads them."""

    async def run() -> ServedModel:
        conn = await connect(api.database_url)
        try:
            return await load_served_model(conn, model_id)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_a_model_read_into_the_process_holds_exactly_its_stored_weights(api: Api) -> None:
    """The binary read (three arrays, no Python object per weight) against a plain row-by-row read."""
    seed(api)
    model_id = train(api).model_id
    stored: dict[int, dict[int, float]] = {}
    for row in api.sql("SELECT movie_id, neighbor_id, weight FROM movie_neighbors WHERE model_id = $1", model_id):
        stored.setdefault(row["movie_id"], {})[row["neighbor_id"]] = row["weight"]
    model = read_model(api, model_id)
    assert len(stored) > 50 and set(model.rows) == set(stored)
    assert list(model.ids) == sorted({n for neighbours in stored.values() for n in neighbours})
    for movie, (positions, weights) in model.rows.items():
        assert dict(zip(model.ids[positions].tolist(), weights.tolist(), strict=True)) == stored[movie]
    assert read_model(api, -1).rows == {}  # no such model: nothing, not an error
