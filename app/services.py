"""The composition root: the long-lived services the API's lifespan builds and every request shares."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from app.catalogue.service import Catalogue
from app.db.connections import every
from app.db.replicas import ReadRouter
from app.embeddings.encoders import Encoders, QueryEncoder
from app.queue.client import JobQueue
from app.recs.models import ModelRegistry
from app.recs.recommender import Recommender
from app.recs.scoring import FOLLOW_EVERY_S
from app.search.fallback import vector_fallback, watch
from app.search.index import describe_index, ivfflat_probes
from app.search.service import Search
from app.search.session import carries_session_settings
from app.search.vectors import VectorSearch
from app.settings import Settings
from app.status.reader import StatusReader


@dataclass(frozen=True)
class Services:
    """What resolvers call: one service per concern, none reaching into another."""

    settings: Settings
    catalogue: Catalogue
    recommender: Recommender
    search: Search
    models: ModelRegistry
    jobs: JobQueue
    status: StatusReader
    jwt_secret: str
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        """Release what the services opened (the queue's Redis connection, the index watch)."""
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.jobs.close()
        await self.status.reads.close()


async def build_services(
    settings: Settings,
    pool: asyncpg.Pool,
    encoders: Encoders | None,
    secret: str,
    *,
    dsn: str | None = None,
    reads: ReadRouter,
) -> Services:
    """Wire the services (without `encoders`: no model, words-only search).

    IVFFlat probes follow the index's lists as built; HNSW's settings ride on the pool. With `dsn`, a
    background task watches the vector index (a missing or invalid one sends k-NN reads in process).
    `reads` routes the read-only services to replicas (or holds only `pool`).
    """
    probes = 1
    async with pool.acquire() as conn:
        index = await describe_index(conn)
        on_connection = await carries_session_settings(conn, settings)
        fallback = await vector_fallback(conn)
        await fallback.check_index(conn)
        if fallback.portable:
            await fallback.memory.current(conn)  # loaded before the first request
    if index is not None and index.method == "ivfflat":
        probes = ivfflat_probes(settings, int(index.options.get("lists", "1")))
    vectors = VectorSearch(settings, ivfflat_probes=probes, settings_on_connection=on_connection, fallback=fallback)
    background = [] if dsn is None else [asyncio.ensure_future(watch(fallback, dsn))]
    jobs = JobQueue(settings, pool)
    encoder = QueryEncoder(pool, encoders or Encoders(settings), enabled=encoders is not None)
    recommender = Recommender(reads, settings, vectors)
    if dsn is not None:
        background.append(asyncio.ensure_future(encoder.watch(dsn)))
        background.append(asyncio.ensure_future(every(FOLLOW_EVERY_S, dsn, recommender.models.follow)))
    return Services(
        settings=settings,
        catalogue=Catalogue(pool, settings, secret, reads, on_change=jobs.nudge_outbox),
        recommender=recommender,
        search=Search(reads, settings, vectors, encoder),
        models=ModelRegistry(pool),
        jobs=jobs,
        status=StatusReader(pool, settings, fallback, reads),
        jwt_secret=secret,
        background=background,
    )
