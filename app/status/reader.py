"""The API's view of movierec's state: coverage and index facts, and the doctor's checks."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from app.db.replicas import ReadRouter
from app.search.fallback import VectorFallback
from app.settings import Settings
from app.status.doctor import Check, run_checks
from app.status.stats import Stats, collect_stats


class StatusReader:
    """Coverage, index facts and the doctor's checks for the API, each read on a pooled connection."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        fallback: VectorFallback,
        reads: ReadRouter,
    ) -> None:
        self._pool, self._settings, self.fallback, self.reads = pool, settings, fallback, reads

    async def stats(self) -> Stats:
        """As `movierec stats` prints them (read where reads go), with the k-NN path and each replica's lag."""
        async with self.reads.acquire() as conn:
            stats = await collect_stats(conn)
        return replace(
            stats,
            vector_search=self.fallback.mode,
            vector_search_fix=self.fallback.fix,
            replicas=await self.reads.lags(),
        )

    async def checks(self) -> list[Check]:
        """Every `movierec doctor` check, each OK or FAIL with its fix; a degraded k-NN path is a FAIL."""
        async with self._pool.acquire() as conn:
            checks = await run_checks(conn, self._settings)
        if self.fallback.cause is not None:
            checks.append(Check("k-NN path", False, self.fallback.mode, self.fallback.fix or ""))
        return checks
