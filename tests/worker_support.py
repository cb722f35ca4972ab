"""The real worker class (jobs.worker.WorkerSettings) run in-process against the tests' Redis and database."""

from __future__ import annotations

import asyncio

from arq.connections import RedisSettings
from arq.worker import Worker, create_worker

from app.embeddings.model import Embedder
from app.settings import Settings
from jobs.worker import WorkerSettings, cron_jobs_for, functions_for


def burst_worker(settings: Settings, embedder: Embedder, *, cron: bool = False) -> Worker:
    """WorkerSettings with these settings: runs what is queued (and, with `cron`, the cron jobs once), then stops."""
    assert settings.redis_url is not None
    return create_worker(
        WorkerSettings,  # type: ignore[arg-type]
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        functions=functions_for(settings),
        cron_jobs=cron_jobs_for(settings, run_at_startup=cron),
        job_timeout=settings.refresh_timeout_s,
        ctx={"settings": settings, "embedder": embedder},
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
    )


async def drain(settings: Settings, embedder: Embedder, *, cron: bool = False) -> None:
    """Run one burst worker to the end."""
    worker = burst_worker(settings, embedder, cron=cron)
    await worker.main()
    await worker.close()


def run_burst_worker(settings: Settings, embedder: Embedder, *, cron: bool = True) -> None:
    """`drain` from synchronous test code."""
    asyncio.run(drain(settings, embedder, cron=cron))
