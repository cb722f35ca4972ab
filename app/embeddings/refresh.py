"""An embedding refresh as the jobs run it: the `movierec embed` pipeline, then outbox and index upkeep."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from app.embeddings import outbox
from app.embeddings.model import Embedder
from app.embeddings.pipeline import EmbedResult, embed_movies
from app.search.index import IndexOutcome, changed_since_build, describe_index, ensure_index
from app.settings import Settings

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
    outbox_done = await outbox.mark_done(conn, embedder.model_name)
    index = None
    current = await describe_index(conn)
    if settings.index_type == "ivfflat" and run.embedded:
        changed_share = await changed_since_build(conn)
        if current is None or changed_share > IVFFLAT_REBUILD_SHARE:
            index = await ensure_index(conn, settings, rebuild=current is not None)
            log.info("ivfflat index: %s (%.0f%% of vectors changed)", index.message, 100 * changed_share)
    return RefreshOutcome(run, outbox_done, index)
