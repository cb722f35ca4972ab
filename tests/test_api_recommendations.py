"""The API's recommendations over HTTP, against the demo catalogue embedded by the real model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.vectors import as_array
from tests.api_support import Api

pytestmark = pytest.mark.model

SIMILAR = """query($id: ID!, $limit: Int!, $diversity: Float!, $filter: MovieFilter, $excludeSeen: Boolean!) {
  similarMovies(movieId: $id, limit: $limit, diversity: $diversity, filter: $filter, excludeSeen: $excludeSeen) {
    strategy items { rank score similarity distance movie { id title year genres } } } }"""
RECOMMEND = """query($limit: Int!, $diversity: Float!, $filter: MovieFilter, $userId: ID) {
  recommendations(limit: $limit, diversity: $diversity, filter: $filter, userId: $userId) {
    strategy items { rank score similarity popularity movie { id title genres } } } }"""
EXPLAIN = """query($movieId: ID!) { explainRecommendation(movieId: $movieId) {
  score text movie { title } breakdown { similarity popularity popularityWeight score }
  similarToYourFavorites { yourRating similarity movie { id title } } } }"""


def tmdb(api: Api) -> dict[int, int]:
    """TMDB id -> movie id in the demo database."""
    return {row["tmdb_id"]: row["id"] for row in api.sql("SELECT tmdb_id, id FROM movies")}


def similar(
    api: Api,
    movie_id: int,
    limit: int = 10,
    diversity: float = 0.0,
    movie_filter: dict | None = None,
    exclude_seen: bool = False,
    **auth: object,
) -> list[dict]:
    variables = {
        "id": str(movie_id),
        "limit": limit,
        "diversity": diversity,
        "filter": movie_filter,
        "excludeSeen": exclude_seen,
    }
    return api.data(SIMILAR, variables, **auth)["similarMovies"]["items"]  # type: ignore[no-any-return]


def test_nearest_neighbours_make_sense(api: Api) -> None:
    ids = tmdb(api)
    titles = [i["movie"]["title"] for i in similar(api, ids[862], limit=3)]
    assert {"Toy Story 2", "Toy Story 3"} <= set(titles)
    titles = [i["movie"]["title"] for i in similar(api, ids[121], limit=3)]
    assert {
        "The Lord of the Rings: The Fellowship of the Ring",
        "The Lord of the Rings: The Return of the King",
    } <= set(titles)
    items = similar(api, ids[27205], limit=10)
    assert [i["rank"] for i in items] == list(range(1, 11))
    assert all(a["similarity"] >= b["similarity"] for a, b in itertools.pairwise(items))
    assert all(i["movie"]["id"] != str(ids[27205]) for i in items)
    assert items[0]["similarity"] == pytest.approx(1 - items[0]["distance"])


def test_filters_return_exactly_limit_whenever_enough_match(api: Api) -> None:
    ids = tmdb(api)
    movie_filter = {"genres": ["Horror"], "yearFrom": 1970, "yearTo": 1999}
    matching = api.sql("SELECT count(*) FROM movies WHERE genres && '{Horror}' AND year BETWEEN 1970 AND 1999")[0][0]
    assert matching >= 7
    items = similar(api, ids[27205], limit=5, movie_filter=movie_filter)
    assert len(items) == 5
    assert all("Horror" in i["movie"]["genres"] and 1970 <= i["movie"]["year"] <= 1999 for i in items)
    everything = similar(api, ids[27205], limit=50, movie_filter=movie_filter)
    assert len(everything) == matching  # fewer match than asked: all of them, none invented
    excluded = similar(api, ids[27205], limit=5, movie_filter={**movie_filter, "excludeIds": [items[0]["movie"]["id"]]})
    assert len(excluded) == 5 and items[0]["movie"]["id"] not in {i["movie"]["id"] for i in excluded}


def _mean_pairwise_similarity(api: Api, movie_ids: list[str]) -> float:
    rows = api.sql("SELECT embedding FROM movies WHERE id = ANY($1::bigint[])", [int(i) for i in movie_ids])
    vectors = np.stack([as_array(r["embedding"]) for r in rows])
    sims = vectors @ vectors.T
    n = len(vectors)
    return float((sims.sum() - n) / (n * (n - 1)))


def test_diversity_lowers_mean_pairwise_similarity_and_is_deterministic(api: Api) -> None:
    ids = tmdb(api)
    plain = similar(api, ids[603], limit=10, diversity=0.0)
    diverse = similar(api, ids[603], limit=10, diversity=0.7)
    assert len(diverse) == 10
    plain_ids = [i["movie"]["id"] for i in plain]
    diverse_ids = [i["movie"]["id"] for i in diverse]
    assert _mean_pairwise_similarity(api, diverse_ids) < _mean_pairwise_similarity(api, plain_ids)
    assert diverse_ids == [i["movie"]["id"] for i in similar(api, ids[603], limit=10, diversity=0.7)]
    assert diverse_ids[0] == plain_ids[0]  # the best match always leads


def test_personal_recommendations_exclude_rated_and_blend_popularity(api: Api) -> None:
    body = api.data(RECOMMEND, {"limit": 10, "diversity": 0.0}, user=1)["recommendations"]
    assert body["strategy"] == "CONTENT_PROFILE"
    rated = {str(r["movie_id"]) for r in api.sql("SELECT movie_id FROM ratings WHERE user_id = 1")}
    returned = {i["movie"]["id"] for i in body["items"]}
    assert len(returned) == 10 and not returned & rated
    for item in body["items"]:
        assert item["score"] == pytest.approx(0.7 * item["similarity"] + 0.3 * item["popularity"])
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    # Ana loves science fiction: most of her list is science fiction.
    assert sum("Science Fiction" in i["movie"]["genres"] for i in body["items"]) >= 6


def test_cold_start_then_rating_changes_the_recommendations(api: Api) -> None:
    ids = tmdb(api)
    cold = api.data(RECOMMEND, {"limit": 10, "diversity": 0.0}, user=5)["recommendations"]
    assert cold["strategy"] == "COLD_START_POPULAR" and len(cold["items"]) == 10
    rate = "mutation($id: ID!, $r: Float!) { rateMovie(movieId: $id, rating: $r) { rating movie { title } } }"
    for movie in (862, 12, 14160):  # Toy Story, Finding Nemo, Up
        assert api.data(rate, {"id": str(ids[movie]), "r": 5.0}, user=5)["rateMovie"]["rating"] == 5.0
    warm = api.data(RECOMMEND, {"limit": 10, "diversity": 0.0}, user=5)["recommendations"]
    assert warm["strategy"] == "CONTENT_PROFILE"
    assert [i["movie"]["id"] for i in warm["items"]] != [i["movie"]["id"] for i in cold["items"]]
    assert not {str(ids[m]) for m in (862, 12, 14160)} & {i["movie"]["id"] for i in warm["items"]}
    assert sum("Animation" in i["movie"]["genres"] for i in warm["items"][:5]) >= 4


def test_a_low_rating_never_pulls_similar_movies_up(api: Api) -> None:
    ids = tmdb(api)
    rate = "mutation($id: ID!) { rateMovie(movieId: $id, rating: 1.0) { rating } }"
    api.data(rate, {"id": str(ids[694])}, user=5)  # The Shining, disliked
    body = api.data(RECOMMEND, {"limit": 10, "diversity": 0.0}, user=5)["recommendations"]
    assert body["strategy"] == "COLD_START_POPULAR"
    assert str(ids[694]) not in {i["movie"]["id"] for i in body["items"]}


def test_explanation_lists_the_closest_liked_movies_with_their_ratings(api: Api) -> None:
    ids = tmdb(api)
    target = ids[335984]  # Blade Runner 2049
    body = api.data(EXPLAIN, {"movieId": str(target)}, user=1)["explainRecommendation"]
    expected = api.sql(
        "SELECT m.id, m.title, r.rating::float8 AS rating, 1 - (m.embedding <=> t.embedding) AS sim "
        "FROM ratings r JOIN movies m ON m.id = r.movie_id, movies t "
        "WHERE r.user_id = 1 AND t.id = $1 AND r.rating >= 3.5 ORDER BY sim DESC LIMIT 3",
        target,
    )
    matches = body["similarToYourFavorites"]
    assert [m["movie"]["id"] for m in matches] == [str(r["id"]) for r in expected]
    assert [m["yourRating"] for m in matches] == [r["rating"] for r in expected]
    assert [m["similarity"] for m in matches] == pytest.approx([r["sim"] for r in expected], abs=1e-5)
    first = expected[0]
    assert body["text"] == (
        f"You rated {first['title']} {first['rating']:g}/5; Blade Runner 2049 is {first['sim']:.0%} similar."
    )
    parts = body["breakdown"]
    assert parts["score"] == pytest.approx(0.7 * parts["similarity"] + 0.3 * parts["popularity"])


def test_explanation_shows_a_movie_just_rated(api: Api) -> None:
    ids = tmdb(api)
    api.data('mutation { rateMovie(movieId: "%d", rating: 4.5) { rating } }' % ids[1124], user=5)  # The Prestige
    body = api.data(EXPLAIN, {"movieId": str(ids[77])}, user=5)["explainRecommendation"]  # Memento
    assert body["similarToYourFavorites"][0]["movie"]["title"] == "The Prestige"
    assert body["similarToYourFavorites"][0]["yourRating"] == 4.5


def test_recommendations_for_movies_never_return_the_examples(api: Api) -> None:
    ids = tmdb(api)
    query = """query($pos: [ID!]!, $neg: [ID!], $s: ExampleStrategy!) {
      recommendationsForMovies(positive: $pos, negative: $neg, strategy: $s, limit: 8) {
        strategy items { score movie { id title genres } } } }"""
    positive, negative = [str(ids[550]), str(ids[27205]), str(ids[13])], [str(ids[862])]
    for strategy in ("AVERAGE_VECTOR", "BEST_SCORE", "SUM_SCORES"):
        body = api.data(query, {"pos": positive, "neg": negative, "s": strategy})["recommendationsForMovies"]
        returned = [i["movie"]["id"] for i in body["items"]]
        assert len(returned) == 8 and not set(returned) & set(positive + negative), strategy
        scores = [i["score"] for i in body["items"]]
        assert scores == sorted(scores, reverse=True), strategy
    liked_only = api.data(query, {"pos": [str(ids[862])], "neg": [], "s": "AVERAGE_VECTOR"})
    titles = [i["movie"]["title"] for i in liked_only["recommendationsForMovies"]["items"]]
    assert {"Toy Story 2", "Toy Story 3"} <= set(titles[:3])


def test_semantic_search(api: Api) -> None:
    query = "query($q: String!) { searchMovies(query: $q, limit: 3) { mode items { movie { title } } } }"
    body = api.data(query, {"q": "thieves who steal secrets from inside people's dreams"})["searchMovies"]
    assert body["mode"] == "HYBRID"
    assert "Inception" in [i["movie"]["title"] for i in body["items"]]
    body = api.data(query, {"q": "toys that come to life when nobody is watching"})["searchMovies"]
    assert any(i["movie"]["title"].startswith("Toy Story") for i in body["items"])


def test_exclude_seen_drops_the_viewers_rated_movies(api: Api) -> None:
    ids = tmdb(api)
    everyone = {i["movie"]["id"] for i in similar(api, ids[157336], limit=10)}
    rated = {str(r["movie_id"]) for r in api.sql("SELECT movie_id FROM ratings WHERE user_id = 1")}
    assert everyone & rated  # Interstellar's neighbours include movies Ana rated
    unseen = similar(api, ids[157336], limit=10, exclude_seen=True, user=1)
    assert len(unseen) == 10 and not {i["movie"]["id"] for i in unseen} & rated


def test_batch_recommendations_for_users(api: Api) -> None:
    query = """query($ids: [ID!]!) { recommendationsForUsers(userIds: $ids, limit: 5) {
      userId strategy items { movie { id } } } }"""
    body = api.data(query, {"ids": ["1", "2", "5"]}, user=99, admin=True)["recommendationsForUsers"]
    assert [b["userId"] for b in body] == ["1", "2", "5"]
    assert [b["strategy"] for b in body] == ["CONTENT_PROFILE", "CONTENT_PROFILE", "COLD_START_POPULAR"]
    single = api.data(RECOMMEND, {"limit": 5, "diversity": 0.0}, user=2)["recommendations"]["items"]
    assert [i["movie"]["id"] for i in body[1]["items"]] == [i["movie"]["id"] for i in single]
