"""Signing in as one of the demo catalogue's users: what the web app offers instead of accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.auth import mint_token
from app.errors import Forbidden, NotFound
from app.importers.demo import SOURCE
from app.settings import Settings
from app.sql import ratings as sql

DEMO_TOKEN_TTL = timedelta(days=1)


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
    return [dict(row) for row in await conn.fetch(sql.USERS_FROM_SOURCE, SOURCE, None)]


async def sign_in_as_demo_user(conn: asyncpg.Connection, settings: Settings, secret: str, user_id: int) -> DemoSession:
    """A day-long token for a demo user; FORBIDDEN when demo sign-in is off, NOT_FOUND for anyone else."""
    if not settings.demo_sign_in_enabled:
        raise Forbidden("demo sign-in is off on this server (MOVIEREC_DEMO_SIGN_IN)")
    row = await conn.fetchrow(sql.USERS_FROM_SOURCE, SOURCE, user_id)
    if row is None:
        raise NotFound(f"user {user_id} is not a demo user")
    expires_at = datetime.now(UTC) + DEMO_TOKEN_TTL
    token = mint_token(secret, user_id, ttl=DEMO_TOKEN_TTL)
    return DemoSession(token=token, expires_at=expires_at, user=dict(row))
