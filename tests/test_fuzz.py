"""Property-based operations against the real stack: generated from the schema, valid and hostile alike.

Whatever arrives, the answer is never a 5xx nor INTERNAL_SERVER_ERROR, and a request that fails
writes nothing.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from app.auth import mint_token
from schema import build_schema
from tests.api_support import SECRET, Api

pytestmark = pytest.mark.model
SDL = build_schema().as_str()
FINGERPRINT = """
SELECT (SELECT count(*) FROM movies) AS movies, (SELECT max(updated_at) FROM movies) AS movie_change,
       (SELECT count(*) FROM ratings) AS ratings, (SELECT max(updated_at) FROM ratings) AS rating_change,
       (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM embedding_outbox) AS outbox
"""
CALLERS = st.sampled_from(["anonymous", "user", "admin"])
FUZZ = settings(
    max_examples=int(os.environ.get("MOVIEREC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _post(api: Api, document: str, caller: str) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if caller != "anonymous":
        token = mint_token(SECRET, 2, admin=caller == "admin", ttl=timedelta(minutes=5))
        headers["Authorization"] = f"Bearer {token}"
    response = api.client.post("/graphql", json={"query": document}, headers=headers)
    assert response.status_code < 500, (document, response.status_code, response.text[:300])
    body: dict[str, Any] = response.json()
    for error in body.get("errors") or []:
        assert error.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR", (document, error)
    return body


def _check(api: Api, document: str, caller: str) -> None:
    mutation = document.lstrip().startswith("mutation")
    before = api.sql(FINGERPRINT)[0] if mutation else None
    body = _post(api, document, caller)
    if mutation and body.get("errors") and not body.get("data"):
        assert api.sql(FINGERPRINT)[0] == before, ("a failed request wrote", document, body["errors"][:2])


@FUZZ
@given(document=from_schema(SDL, mode=Mode.POSITIVE), caller=CALLERS)
def test_generated_valid_operations(api: Api, document: str, caller: str) -> None:
    _check(api, document, caller)


@FUZZ
@given(document=from_schema(SDL, mode=Mode.NEGATIVE), caller=CALLERS)
def test_generated_hostile_operations(api: Api, document: str, caller: str) -> None:
    _check(api, document, caller)
