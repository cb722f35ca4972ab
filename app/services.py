"""The composition root: the long-lived services the API's lifespan builds and every request shares."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.catalogue.service import Catalogue
from app.embeddings.encoders import Encoders, QueryEncoder
from app.queue.client import JobQueue
from app.recs.models import ModelRegistry
from app.recs.recommender import Recommender
from app.search.index import describe_index, ivfflat_probes
from app.search.service import Search
from app.search.vectors import VectorSearch, carries_session_settings
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

    async def close(self) -> None:
        """Release what the services opened (the queue's Redis connection)."""
        await self.jobs.close()


async def build_services(settings: Settings, pool: asyncpg.Pool, encoders: Encoders | None, secret: str) -> Services:
    """Wire the services (without `encoders`: no model, words-only search).

    IVFFlat probes follow the index's lists as built; HNSW's settings ride on the pool.
    """
    probes = 1
    async with pool.acquire() as conn:
        index = await describe_index(conn)
        on_connection = await carries_session_settings(conn, settings)
    if index is not None and index.method == "ivfflat":
        probes = ivfflat_probes(settings, int(index.options.get("lists", "1")))
    vectors = VectorSearch(settings, ivfflat_probes=probes, settings_on_connection=on_connection)
    jobs = JobQueue(settings, pool)
    encoder = QueryEncoder(pool, encoders or Encoders(settings), enabled=encoders is not None)
    return Services(
        settings=settings,
        catalogue=Catalogue(pool, settings, secret, on_change=jobs.nudge_outbox),
        recommender=Recommender(pool, settings, vectors),
        search=Search(pool, settings, vectors, encoder),
        models=ModelRegistry(pool),
        jobs=jobs,
        status=StatusReader(pool, settings),
        jwt_secret=secret,
    )
