"""Users: look-ups by id, and signing in as one of the demo catalogue's users (the web app's accounts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.auth import mint_token
from app.catalogue.importers.demo import SOURCE as DEMO_SOURCE
from app.errors import Forbidden, NotFound
from app.settings import Settings

USERS_BY_IDS = "SELECT id, name, source, created_at FROM users WHERE id = ANY($1::bigint[])"

# Users from one source (the demo importer's: the ones the web app offers to sign in as), or one of them.
USERS_FROM_SOURCE = """
SELECT u.id, u.name, count(r.movie_id) AS rating_count
FROM users u LEFT JOIN ratings r ON r.user_id = u.id
WHERE u.source = $1 AND ($2::bigint IS NULL OR u.id = $2)
GROUP BY u.id ORDER BY u.id
"""

DEMO_TOKEN_TTL = timedelta(days=1)


async def load_users_by_ids(conn: asyncpg.Connection, ids: Sequence[int]) -> list[dict[str, Any] | None]:
    """Users in the order of `ids` (None where missing)."""
    rows = await conn.fetch(USERS_BY_IDS, list(set(ids)))
    by_id = {row["id"]: dict(row) for row in rows}
    return [by_id.get(i) for i in ids]


@dataclass(frozen=True)
class DemoSession:
    """A token for a demo user, when it expires and who it speaks for."""

    token: str
    expires_at: datetime
    user: dict[str, Any]


async def list_demo_users(conn: asyncpg.Connection, settings: Settings) -> list[dict[str, Any]]:
    """The demo users with their rating counts; none when demo sign-in is off."""
    if not settings.demo_sign_in_enabled:
        return []
    return [dict(row) for row in await conn.fetch(USERS_FROM_SOURCE, DEMO_SOURCE, None)]


async def sign_in_as_demo_user(conn: asyncpg.Connection, settings: Settings, secret: str, user_id: int) -> DemoSession:
    """A day-long token for a demo user; FORBIDDEN when demo sign-in is off, NOT_FOUND for anyone else."""
    if not settings.demo_sign_in_enabled:
        raise Forbidden("demo sign-in is off on this server (MOVIEREC_DEMO_SIGN_IN)")
    row = await conn.fetchrow(USERS_FROM_SOURCE, DEMO_SOURCE, user_id)
    if row is None:
        raise NotFound(f"user {user_id} is not a demo user")
    expires_at = datetime.now(UTC) + DEMO_TOKEN_TTL
    token = mint_token(secret, user_id, ttl=DEMO_TOKEN_TTL)
    return DemoSession(token=token, expires_at=expires_at, user=dict(row))
