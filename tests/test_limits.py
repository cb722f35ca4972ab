"""Operation limits: depth, aliases and cost measured in one pass, whatever the fragments expand to."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from graphql import parse

from app.embeddings.model import SentenceTransformerEmbedder
from schema.limits import BUDGETS, MAX_ALIASES, MAX_DEPTH, measure, mutation_fields
from tests.api_support import Api
from tests.browser_support import live_server


def doubling(levels: int) -> str:
    """Each fragment spreads the next one twice: 2^levels expanded paths in about 1 KB."""
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"query {{ ...F0 }} {chain} fragment F{levels} on Query {{ stats {{ totalMovies }} }}"


def inline_nesting(levels: int) -> str:
    """Inline fragments nested inside one another, each a list of movies going one level deeper."""
    body = "id"
    for _ in range(levels):
        body = f"... on Movie {{ alsoLiked(limit: 20) {{ movie {{ {body} }} }} }}"
    return '{ movie(id: "1") { ' + body + " } }"


def aliases_times_fragments(levels: int) -> str:
    """Aliased fields inside a doubling fragment chain."""
    chain = " ".join(
        f"fragment F{i} on Query {{ a{i}: stats {{ totalMovies }} ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query {{ ...F0 }} {chain} fragment F{levels} on Query {{ stats {{ users }} }}"


def nested_lists() -> str:
    """Deeply nested selections: viewer, ratings, movie, alsoLiked, movie, alsoLiked..."""
    body = "id"
    for _ in range(10):
        body = f"alsoLiked(limit: 20) {{ movie {{ {body} }} }}"
    return '{ movie(id: "1") { ' + body + " } }"


SHAPES = [doubling(30), inline_nesting(9), aliases_times_fragments(25), nested_lists()]


@pytest.mark.parametrize("document", SHAPES)
def test_every_fan_out_shape_is_measured_in_linear_time_and_over_a_limit(document: str) -> None:
    parsed = parse(document)
    started = time.perf_counter()
    figures = measure(parsed, None, {})
    assert time.perf_counter() - started < 0.05
    assert figures.depth > MAX_DEPTH or figures.aliases > MAX_ALIASES or figures.cost > BUDGETS["admin"]


def test_costs_follow_limits_list_sizes_and_batches() -> None:
    def cost(document: str, variables: dict[str, object] | None = None) -> int:
        return measure(parse(document), None, variables).cost

    small = cost("{ similarMovies(movieId: 1, limit: 5) { items { movie { title } } } }")
    large = cost("{ similarMovies(movieId: 1, limit: 100) { items { movie { title } } } }")
    assert large > 10 * small
    by_variable = cost("query($n: Int!) { similarMovies(movieId: 1, limit: $n) { items { rank } } }", {"n": 100})
    assert by_variable == cost("{ similarMovies(movieId: 1, limit: 100) { items { rank } } }")
    one = cost('{ recommendationsForUsers(userIds: ["1"], limit: 10) { items { rank } } }')
    ten = cost(
        '{ recommendationsForUsers(userIds: ["1","2","3","4","5","6","7","8","9","10"], limit: 10) { items { rank } } }'
    )
    assert ten == 10 * one


def test_the_api_refuses_expensive_operations_by_caller(api: Api) -> None:
    heavy = " ".join(
        f"a{i}: recommendationsForMovies(positive: [{', '.join(f'{chr(34)}{j}{chr(34)}' for j in range(1, 21))}], "
        f"strategy: BEST_SCORE, limit: 100) {{ items {{ movie {{ title }} }} }}"
        for i in range(15)
    )
    body = api.gql("{ " + heavy + " }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert ("budget" in body["errors"][0]["message"] and "data" not in body) or body.get("data") is None
    attack = api.gql(doubling(30))
    assert attack["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "cost" in attack["errors"][0]["message"]
    # The web app's own operations stay far inside the anonymous budget.
    api.data('{ similarMovies(movieId: "1", limit: 8) { items { similarity movie { id title year genres } } } }')


def test_the_fields_a_mutation_runs_are_counted_through_fragments_and_merged_by_key() -> None:
    def keys(document: str, name: str | None = None) -> list[str]:
        return mutation_fields(parse(document), name)

    assert keys('mutation { rateMovie(movieId: "1", rating: 4) { rating } removeRating(movieId: "2") }') == [
        "rateMovie",
        "removeRating",
    ]
    assert keys('mutation { a: removeRating(movieId: "1") b: removeRating(movieId: "2") }') == ["a", "b"]
    # The same response key twice is one field: graphql-core merges them (or refuses differing arguments).
    assert keys('mutation { removeRating(movieId: "1") removeRating(movieId: "1") }') == ["removeRating"]
    spread = "mutation { ...W ... on Mutation { trainRecommender { id } } } fragment W on Mutation { ...V ...V }"
    assert keys(spread + ' fragment V on Mutation { removeRating(movieId: "1") }') == [
        "removeRating",
        "trainRecommender",
    ]
    two = (
        'mutation A { removeRating(movieId: "1") } '
        'mutation B { x: removeRating(movieId: "1") y: trainRecommender { id } }'
    )
    assert keys(two, "A") == ["removeRating"] and keys(two, "B") == ["x", "y"]
    assert keys("{ stats { totalMovies } }") == []
    assert keys('mutation { __typename removeRating(movieId: "1") }') == ["removeRating"]


def test_a_request_runs_one_mutation_so_a_failed_one_never_hides_a_write(api: Api) -> None:
    """Two mutation fields in one request: the second could fail after the first wrote, and the
    answer (`data: null`) would not say so. They are refused before either runs."""
    before = api.sql("SELECT count(*) AS n FROM ratings WHERE user_id = 2")[0]["n"]
    body = api.gql(
        'mutation { rateMovie(movieId: "1", rating: 4) { rating } rollbackRecommender { id } }', user=2, admin=True
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and body.get("data") is None
    assert error["message"] == (
        "one mutation per request: this one runs 2 (rateMovie, rollbackRecommender); send each in its own request"
    )
    assert api.sql("SELECT count(*) AS n FROM ratings WHERE user_id = 2")[0]["n"] == before
    assert api.data('mutation { rateMovie(movieId: "1", rating: 4) { rating } }', user=2)["rateMovie"]["rating"] == 4


@pytest.fixture
def server(demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path) -> Iterator[str]:
    with live_server(demo_database_url, model, tmp_path / "movierec") as url:
        yield url


def test_healthz_answers_while_attacks_arrive(server: str) -> None:
    stop = threading.Event()
    failures: list[str] = []

    def attack() -> None:
        with httpx.Client(base_url=server, timeout=10) as client:
            while not stop.is_set():
                for document in SHAPES:
                    answer = client.post("/graphql", json={"query": document}).json()
                    if answer["errors"][0]["extensions"]["code"] != "GRAPHQL_VALIDATION_FAILED":
                        failures.append(str(answer))

    attackers = [threading.Thread(target=attack) for _ in range(4)]
    for thread in attackers:
        thread.start()
    try:
        with httpx.Client(base_url=server, timeout=5) as client:
            slowest = 0.0
            for _ in range(40):
                started = time.perf_counter()
                assert client.get("/healthz").text == "ok"
                slowest = max(slowest, time.perf_counter() - started)
                time.sleep(0.02)
    finally:
        stop.set()
        for thread in attackers:
            thread.join()
    assert failures == []
    assert slowest < 0.05, f"/healthz took {slowest * 1000:.0f} ms"


async def test_requests_over_the_in_flight_limit_get_a_fast_503() -> None:
    import asyncio

    from starlette.types import Receive, Scope, Send

    from app.transport import InFlightLimit

    release = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = InFlightLimit(slow, limit=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        held = [asyncio.create_task(client.post("/graphql", json={})) for _ in range(2)]
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        refused = await client.post("/graphql", json={})
        assert time.perf_counter() - started < 0.05
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await client.post("/graphql", json={})).status_code == 200


def test_declared_defaults_and_deep_pages_are_costed() -> None:
    def cost(document: str, variables: dict[str, object] | None = None) -> int:
        return measure(parse(document), None, variables or {}).cost

    defaulted = 'query($n: Int = 10) { searchMovies(query: "x", limit: $n) { items { rank } } }'
    assert cost(defaulted) == cost(defaulted, {"n": 10}) < cost(defaulted, {"n": 100})
    first = "{ similarMovies(movieId: 1, limit: 10) { items { rank } } }"
    deep = "{ similarMovies(movieId: 1, limit: 10, offset: 400) { items { rank } } }"
    assert cost(deep) == cost(first) + 400 // 20
