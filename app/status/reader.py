"""The API's view of movierec's state: coverage and index facts, and the doctor's checks."""

from __future__ import annotations

import asyncpg

from app.settings import Settings
from app.status.doctor import Check, run_checks
from app.status.stats import Stats, collect_stats


class StatusReader:
    """Coverage, index facts and the doctor's checks for the API, each read on a pooled connection."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool, self._settings = pool, settings

    async def stats(self) -> Stats:
        """As `movierec stats` prints them."""
        async with self._pool.acquire() as conn:
            return await collect_stats(conn)

    async def checks(self) -> list[Check]:
        """Every `movierec doctor` check, each OK or FAIL with its fix."""
        async with self._pool.acquire() as conn:
            return await run_checks(conn, self._settings)
