"""Auth, error codes, limits and HTTP behaviour of the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from app.auth import mint_token
from app.embeddings.model import SentenceTransformerEmbedder
from tests.api_support import SECRET, Api, running_api

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {
    "movie": '{ movie(id: "1") { title } byTmdb: movie(tmdbId: 27205) { title } }',
    "movies": "{ movies(first: 2) { nodes { title } pageInfo { hasNextPage endCursor } } }",
    "similarMovies": '{ similarMovies(movieId: "1", limit: 2) { items { movie { title } } } }',
    "recommendationsForMovies": '{ recommendationsForMovies(positive: ["1"], limit: 2) { items { movie { id } } } }',
    "searchMovies": '{ searchMovies(query: "space adventure", limit: 2) { items { movie { id } } } }',
    "stats": "{ stats { totalMovies coveragePercentage model dimension index { method valid } } }",
}
VIEWER = {
    "recommendations": "{ recommendations(limit: 2) { strategy items { movie { id } } } }",
    "explainRecommendation": '{ explainRecommendation(movieId: "2") { text } }',
    "viewer": "{ viewer { id name ratings { rating movie { title } } } }",
    "similarMovies(excludeSeen)": '{ similarMovies(movieId: "1", limit: 2, excludeSeen: true) { items { rank } } }',
    "rateMovie": 'mutation { rateMovie(movieId: "3", rating: 4.5) { rating } }',
    "removeRating": 'mutation { removeRating(movieId: "3") }',
}
ADMIN = {
    "recommendations(userId)": '{ recommendations(limit: 2, userId: "2") { strategy } }',
    "explainRecommendation(userId)": '{ explainRecommendation(movieId: "2", userId: "2") { text } }',
    "recommendationsForUsers": '{ recommendationsForUsers(userIds: ["1", "2"], limit: 2) { userId } }',
    "upsertMovie": 'mutation { upsertMovie(input: {title: "New Film", year: 2024}) { id title hasEmbedding } }',
}


@pytest.mark.parametrize("name", PUBLIC)
def test_anonymous_callers_read_the_catalogue(api: Api, name: str) -> None:
    api.data(PUBLIC[name])


@pytest.mark.parametrize("name", VIEWER)
def test_viewer_operations_need_a_token(api: Api, name: str) -> None:
    assert api.error_code(VIEWER[name]) == "UNAUTHENTICATED"
    api.data(VIEWER[name], user=1)


@pytest.mark.parametrize("name", ADMIN)
def test_admin_operations(api: Api, name: str) -> None:
    assert api.error_code(ADMIN[name]) == "UNAUTHENTICATED"
    assert api.error_code(ADMIN[name], user=1) == "FORBIDDEN"
    api.data(ADMIN[name], user=1, admin=True)


def test_a_user_acts_only_as_themselves(api: Api) -> None:
    api.data('mutation { rateMovie(movieId: "3", rating: 2.0) { rating } }', user=2)
    rows = api.sql("SELECT user_id FROM ratings WHERE movie_id = 3")
    assert [r["user_id"] for r in rows] == [2]
    viewer = api.data("{ viewer { id ratings { movie { id } } } }", user=2)["viewer"]
    assert viewer["id"] == "2" and "3" in {r["movie"]["id"] for r in viewer["ratings"]}


def test_bad_tokens(api: Api) -> None:
    query = VIEWER["recommendations"]
    expired = mint_token(SECRET, 1, ttl=timedelta(seconds=-5))
    body = api.gql(query, token=expired)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED" and "expired" in body["errors"][0]["message"]
    forged = mint_token("another-secret-of-sufficient-length-0123456789", 1)
    assert api.error_code(query, token=forged) == "UNAUTHENTICATED"
    unsigned = jwt.encode({"sub": "1", "admin": True, "exp": 9_999_999_999}, key=None, algorithm="none")
    assert api.error_code(query, token=unsigned) == "UNAUTHENTICATED"
    no_expiry = jwt.encode({"sub": "1"}, SECRET, algorithm="HS256")
    assert api.error_code(query, token=no_expiry) == "UNAUTHENTICATED"
    response = api.client.post("/graphql", json={"query": query}, headers={"Authorization": "Basic abc"})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ('{ similarMovies(movieId: "1", limit: 0) { strategy } }', "BAD_USER_INPUT"),
        ('{ movie(id: "1", tmdbId: 550) { title } }', "BAD_USER_INPUT"),
        ('{ similarMovies(movieId: "1", limit: 101) { strategy } }', "BAD_USER_INPUT"),
        ('{ similarMovies(movieId: "abc") { strategy } }', "BAD_USER_INPUT"),
        ('{ similarMovies(movieId: "1", diversity: 1.5) { strategy } }', "BAD_USER_INPUT"),
        ('{ similarMovies(movieId: "999999") { strategy } }', "NOT_FOUND"),
        ('{ movies(first: 5, after: "not-a-cursor") { nodes { id } } }', "BAD_USER_INPUT"),
        ("{ movies(filter: {yearFrom: 2000, yearTo: 1990}) { nodes { id } } }", "BAD_USER_INPUT"),
        ("{ recommendationsForMovies(positive: []) { strategy } }", "BAD_USER_INPUT"),
        ('{ recommendationsForMovies(positive: ["1"], negative: ["1"]) { strategy } }', "BAD_USER_INPUT"),
        ('{ recommendationsForMovies(positive: ["999999"]) { strategy } }', "NOT_FOUND"),
        ('{ searchMovies(query: "   ") { mode } }', "BAD_USER_INPUT"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ movie(id: ", "GRAPHQL_PARSE_FAILED"),
    ],
)
def test_error_codes(api: Api, query: str, code: str) -> None:
    assert api.error_code(query) == code


@pytest.mark.parametrize("rating", ["0", "5.5", "4.3", "-1", "1e309", "NaN", '"4"'])
def test_bad_ratings_write_nothing(api: Api, rating: str) -> None:
    before = api.sql("SELECT count(*) FROM ratings")[0][0]
    token = mint_token(SECRET, 1)
    # Raw JSON: NaN and 1e309 (infinity) are what a careless client can really send.
    body = '{"query": "mutation($r: Float!) { rateMovie(movieId: \\"3\\", rating: $r) { rating } }", '
    body += '"variables": {"r": %s}}' % rating
    response = api.client.post(
        "/graphql", content=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, error
    assert api.sql("SELECT count(*) FROM ratings")[0][0] == before


def test_rating_an_unknown_movie_or_as_an_unknown_user(api: Api) -> None:
    assert api.error_code('mutation { rateMovie(movieId: "999999", rating: 4) { rating } }', user=1) == "NOT_FOUND"
    assert api.error_code('mutation { rateMovie(movieId: "3", rating: 4) { rating } }', user=424242) == "NOT_FOUND"


def test_a_movie_without_an_embedding_is_unavailable_for_similarity(api: Api) -> None:
    created = api.data(ADMIN["upsertMovie"], user=1, admin=True)["upsertMovie"]
    assert created["hasEmbedding"] is False
    query = '{ similarMovies(movieId: "%s") { strategy } }' % created["id"]
    assert api.error_code(query) == "UNAVAILABLE"


def test_upsert_marks_content_changes_for_re_embedding(api: Api) -> None:
    query = """mutation($input: MovieInput!) { upsertMovie(input: $input) { id title overview } }"""
    before = api.sql("SELECT * FROM movies WHERE id = 1")[0]
    same = {
        "id": "1",
        "tmdbId": before["tmdb_id"],
        "title": before["title"],
        "year": before["year"],
        "overview": before["overview"],
        "genres": before["genres"],
        "director": before["director"],
        "cast": before["cast_members"],
        "voteCount": 1000,
    }
    api.data(query, {"input": same}, user=1, admin=True)
    row = api.sql("SELECT embedded_hash = content_hash AS current, vote_count FROM movies WHERE id = 1")[0]
    assert row["current"] and row["vote_count"] == 1000
    api.data(query, {"input": {**same, "overview": "A completely different story."}}, user=1, admin=True)
    row = api.sql("SELECT embedded_hash, embedding IS NOT NULL AS has_vector FROM movies WHERE id = 1")[0]
    assert row["embedded_hash"] is None and row["has_vector"]  # stale, yet still served until re-embedded
    bad = api.gql(query, {"input": {**same, "year": 3000}}, user=1, admin=True)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_unexpected_errors_are_masked_with_a_request_id(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.recs.recommender import Recommender

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Recommender, "similar_movies", broken)
    response = api.client.post("/graphql", json={"query": PUBLIC["similarMovies"]}, headers={"X-Request-ID": "req-42"})
    error = response.json()["errors"][0]
    assert error["message"] == "Unexpected error." and "secret" not in response.text
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}


def test_limits_on_depth_aliases_and_body(api: Api) -> None:
    deep = "{ viewer { ratings { movie { id } } } }"
    api.data(deep, user=1)
    aliases = "{ " + " ".join(f'a{i}: movie(id: "1") {{ id }}' for i in range(20)) + " }"
    assert api.error_code(aliases) == "GRAPHQL_VALIDATION_FAILED"
    huge = {"query": '{ movie(id: "1") { id } }', "variables": {"pad": "x" * (2 << 20)}}
    assert api.client.post("/graphql", json=huge).status_code == 413


def test_http_rules(api: Api) -> None:
    assert api.client.get("/healthz").text == "ok"
    search = "pgvector" if api.pgvector else "in-process exact search (this database has no pgvector)"
    assert api.client.get("/readyz").json() == {"ready": True, "vectorSearch": search}
    mutation = api.client.get("/graphql", params={"query": VIEWER["removeRating"]})
    assert mutation.status_code in {400, 405}
    batch = api.client.post("/graphql", json=[{"query": PUBLIC["movie"]}, {"query": PUBLIC["movie"]}])
    assert batch.status_code == 400
    assert api.client.get("/graphql", params={"query": PUBLIC["movie"]}).json()["data"]["movie"]["title"]
    graphiql = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()


def test_committed_sdl_matches_the_schema(api: Api) -> None:
    served = api.client.get("/graphql/schema.graphql").text
    committed = (ROOT / "schema.graphql").read_text()
    assert served == committed, "schema.graphql is stale: run `python -m schema > schema.graphql`"


def test_production_turns_off_introspection_and_graphiql(
    demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    for api in running_api(demo_database_url, model, tmp_path, env="production"):
        assert api.error_code("{ __schema { types { name } } }") == "GRAPHQL_VALIDATION_FAILED"
        assert api.client.get("/graphql", headers={"Accept": "text/html"}).status_code in {400, 404}
        api.data(PUBLIC["movie"])
        assert api.client.get("/graphql/schema.graphql").status_code == 404  # no SDL either
        typo = api.gql('{ movie(id: "1") { titel } }')["errors"][0]
        assert typo["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "Did you mean" not in typo["message"]
