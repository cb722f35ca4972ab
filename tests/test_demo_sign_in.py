"""Signing in as a demo user: the users offered, the token given, and when it is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.embeddings.model import SentenceTransformerEmbedder
from app.settings import Settings
from tests.api_support import Api, running_api

DEMO_USERS = "{ demoUsers { id name ratingCount } }"
SIGN_IN = "mutation($id: ID!) { signInAsDemoUser(userId: $id) { token expiresAt user { id name } } }"
VIEWER = "{ viewer { id name ratings { movieId } } }"


def test_demo_users_are_offered_with_their_rating_counts(api: Api) -> None:
    users = api.data(DEMO_USERS)["demoUsers"]
    assert [u["name"].split(" ")[0] for u in users] == ["Ana", "Ben", "Cleo", "Dev", "Eve"]
    assert [u["ratingCount"] for u in users] == [10, 9, 8, 7, 0]


def test_a_demo_sign_in_gives_a_day_long_token_for_that_user(api: Api) -> None:
    eve = api.data(DEMO_USERS)["demoUsers"][-1]
    session = api.data(SIGN_IN, {"id": eve["id"]})["signInAsDemoUser"]
    assert session["user"] == {"id": eve["id"], "name": eve["name"]}
    expires = datetime.fromisoformat(session["expiresAt"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(days=1)
    viewer = api.data(VIEWER, token=session["token"])["viewer"]
    assert viewer == {"id": eve["id"], "name": eve["name"], "ratings": []}


def test_only_demo_users_can_be_signed_in_as(api: Api) -> None:
    [other] = api.sql("INSERT INTO users (name, source, source_key) VALUES ('Zed', 'movielens', '7') RETURNING id")
    assert api.error_code(SIGN_IN, {"id": str(other["id"])}) == "NOT_FOUND"
    assert api.error_code(SIGN_IN, {"id": "999999"}) == "NOT_FOUND"
    assert api.error_code(SIGN_IN, {"id": "eve"}) == "BAD_USER_INPUT"
    assert "Zed" not in str(api.data(DEMO_USERS))


def test_demo_sign_in_can_be_turned_off_and_is_off_in_production(
    demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    assert Settings(env="production").demo_sign_in_enabled is False
    assert Settings(env="production", demo_sign_in=True).demo_sign_in_enabled is True
    for api in running_api(demo_database_url, model, tmp_path, demo_sign_in=False):
        assert api.data(DEMO_USERS) == {"demoUsers": []}
        assert api.error_code(SIGN_IN, {"id": "1"}) == "FORBIDDEN"
