"""An embedding refresh as the jobs run it: the `movierec embed` pipeline, then outbox and index upkeep."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from app.embedder import Embedder
from app.embedding import EmbedResult, embed_movies
from app.settings import Settings
from app.sql import jobs as sql
from app.vector_index import IndexOutcome, describe_index, ensure_index

log = logging.getLogger(__name__)

# An IVFFlat index's lists were trained on the vectors present when it was built; once more than
# this share of them has changed, it is rebuilt (concurrently, swapped in only when valid).
IVFFLAT_REBUILD_SHARE = 0.2


@dataclass
class RefreshOutcome:
    """The run, outbox rows completed, and what happened to the index."""

    run: EmbedResult
    outbox_done: int
    index: IndexOutcome | None


async def refresh_embeddings(
    conn: asyncpg.Connection,
    embedder: Embedder,
    settings: Settings,
    *,
    full: bool = False,
    trigger: str = "job",
    job_id: str | None = None,
) -> RefreshOutcome:
    """Embed what is stale (everything with `full`); HNSW needs nothing more, IVFFlat may be rebuilt."""
    run = await embed_movies(conn, embedder, full=full, trigger=trigger, job_id=job_id, batch_size=settings.embed_batch)
    status = await conn.execute(sql.MARK_OUTBOX_DONE, embedder.model_name)
    outbox_done = int(status.split()[-1])
    index = None
    current = await describe_index(conn)
    if settings.index_type == "ivfflat" and run.embedded:
        counts = await conn.fetchrow(sql.CHANGED_SINCE_INDEX_BUILD)
        changed_share = counts["changed"] / counts["total"] if counts["total"] else 0.0
        if current is None or changed_share > IVFFLAT_REBUILD_SHARE:
            index = await ensure_index(conn, settings, rebuild=current is not None)
            log.info("ivfflat index: %s (%.0f%% of vectors changed)", index.message, 100 * changed_share)
    return RefreshOutcome(run, outbox_done, index)
