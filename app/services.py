"""What the API's lifespan holds: the pool, the settings, the model and the services built on them."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.embedder import Embedder
from app.queue import JobQueue
from app.recommender import Recommender
from app.settings import Settings
from app.vector_index import describe_index, ivfflat_probes
from app.vector_search import VectorSearch


@dataclass
class Services:
    """Long-lived, shared by every request."""

    settings: Settings
    pool: asyncpg.Pool
    embedder: Embedder | None
    recommender: Recommender
    jwt_secret: str
    queue: JobQueue


async def build_services(settings: Settings, pool: asyncpg.Pool, embedder: Embedder | None, secret: str) -> Services:
    """Wire the services; IVFFlat probes follow the index's lists as built."""
    probes = 1
    async with pool.acquire() as conn:
        index = await describe_index(conn)
    if index is not None and index.method == "ivfflat":
        probes = ivfflat_probes(settings, int(index.options.get("lists", "1")))
    search = VectorSearch(settings, ivfflat_probes=probes)
    recommender = Recommender(pool, settings, search, embedder)
    return Services(settings, pool, embedder, recommender, secret, JobQueue(settings))
