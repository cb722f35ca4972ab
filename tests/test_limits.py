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
from schema.cost import BUDGETS, MAX_ALIASES, MAX_DEPTH, measure, mutation_fields
from schema.document_checks import CACHED_TEXT, MAX_DOCUMENTS, cached_documents, document_checks
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


def test_a_document_seen_before_is_costed_again_by_the_variables_its_cost_reads() -> None:
    text = "query($id: ID!, $n: Int = 10, $p: [ID!]!) { similarMovies(movieId: $id, limit: $n) { items { rank } } recommendationsForMovies(positive: $p, limit: 5) { items { rank } } }"  # noqa: E501
    document = parse(text)
    checks = document_checks(text, document, None)
    assert checks.reads == ("n", "p") and checks.strings is None and checks.writes == []
    cases: list[dict[str, object]] = [
        {"id": "1", "p": ["1"]},
        {"id": "2", "p": ["7"]},  # another film: the same cost, measured once
        {"id": 3, "n": 100, "p": ["1"]},
        {"id": "1", "n": 10, "p": ["1", "2", "3"]},
        {"id": "1", "n": "lots", "p": "1"},  # wrong types cost what the walk makes of them
    ]
    for variables in cases:
        again = document_checks(text, document, None)
        assert again is checks  # the same text: its checks from the cache
        assert again.cost(document, None, variables) == measure(document, None, variables)
    assert len(checks.costs) == 4
    assert checks.cost(document, None, cases[2]).cost > checks.cost(document, None, cases[0]).cost

    nul = '{ searchMovies(query: "a\\u0000b") { items { rank } } }'
    for _ in range(2):
        assert "NUL" in (document_checks(nul, parse(nul), None).strings or "")
    loop = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    assert "spreads itself" in (document_checks(loop, parse(loop), None).too_complex or "")


def test_the_document_cache_is_bounded_and_keeps_no_long_text() -> None:
    before = cached_documents()
    long_text = "{ stats { totalMovies } }" + " " * CACHED_TEXT
    document_checks(long_text, parse(long_text), None)
    assert cached_documents() == before
    for i in range(MAX_DOCUMENTS + 10):
        text = f"{{ similarMovies(movieId: {i}, limit: 5) {{ items {{ rank }} }} }}"
        document_checks(text, parse(text), None)
    assert cached_documents() == MAX_DOCUMENTS


def test_the_api_costs_a_repeated_document_by_each_request_s_variables(api: Api) -> None:
    heavy = "query($p: [ID!]!) { recommendationsForMovies(positive: $p, limit: 100) { items { movie { id title } } } }"
    few, many = {"p": ["1"]}, {"p": [str(i) for i in range(1, 401)]}
    assert measure(parse(heavy), None, few).cost <= BUDGETS["anonymous"] < measure(parse(heavy), None, many).cost
    for _ in range(2):  # the second time from the document cache
        assert "budget" not in str(api.gql(heavy, few).get("errors", ""))
        refused = api.gql(heavy, many)["errors"][0]
        assert refused["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "budget" in refused["message"]
        bad = api.gql(heavy, {**few, "note": "a\u0000b"})["errors"][0]
        assert bad["extensions"]["code"] == "BAD_USER_INPUT" and "$note" in bad["message"]


def test_a_long_document_is_answered_but_kept_in_no_cache(api: Api) -> None:
    from strawberry.extensions.parser_cache import _get_parse_cache
    from strawberry.extensions.validation_cache import _get_validate_cache

    caches = [_get_parse_cache(256), _get_validate_cache(256)]

    def lookups() -> list[int]:  # every call of a cached function is a hit or a miss
        return [cache.cache_info().hits + cache.cache_info().misses for cache in caches]

    long_document = "{ stats { totalMovies } }" + " " * CACHED_TEXT
    before, documents = lookups(), cached_documents()
    for _ in range(2):
        assert api.data(long_document)["stats"]["totalMovies"] > 0
    assert (lookups(), cached_documents()) == (before, documents)
    api.data("{ stats { totalMovies } }  # a short text goes through the caches")
    assert lookups() == [before[0] + 1, before[1] + 1]
