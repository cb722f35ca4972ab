"""An embedding refresh as the jobs run it: keep the active generation current, backfill a new model's
generation beside it and switch when it is complete; then outbox and index upkeep."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from app.embeddings import outbox
from app.embeddings.batches import EmbedResult
from app.embeddings.encoders import Encoders, ModelNotLoadable
from app.embeddings.generations import NEXT, active_generation, adopt_if_empty, slot_coverage, spec_from_model_name
from app.embeddings.model import Embedder
from app.embeddings.pipeline import embed_movies
from app.embeddings.switch import SwitchOutcome, prepare_next, switch_to_next
from app.search.index import IndexOutcome, changed_since_build, describe_index, ensure_index
from app.settings import Settings

log = logging.getLogger(__name__)

# An IVFFlat index's lists were trained on the vectors present when it was built; once more than
# this share of them has changed, it is rebuilt (concurrently, swapped in only when valid).
IVFFLAT_REBUILD_SHARE = 0.2


@dataclass
class RefreshOutcome:
    """The active generation's run, a new model's backfill and switch, outbox rows completed, the index."""

    run: EmbedResult | None
    outbox_done: int
    index: IndexOutcome | None
    backfill: EmbedResult | None = None
    switched: SwitchOutcome | None = None


async def backfill_next(
    conn: asyncpg.Connection,
    embedder: Embedder,
    settings: Settings,
    *,
    trigger: str,
    job_id: str | None,
    progress: bool = False,
) -> tuple[EmbedResult, SwitchOutcome | None]:
    """Embed the configured model's generation beside the active one; switch to it once it covers every movie."""
    await prepare_next(conn, spec_from_model_name(embedder.model_name, embedder.dimension))
    run = await embed_movies(
        conn,
        embedder,
        trigger=f"{trigger}-backfill",
        job_id=job_id,
        batch_size=settings.embed_batch,
        slot=NEXT,
        progress=progress,
    )
    if not (await slot_coverage(conn, NEXT)).complete:
        return run, None
    return run, await switch_to_next(conn, settings)


async def refresh_embeddings(
    conn: asyncpg.Connection,
    embedder: Embedder,
    settings: Settings,
    *,
    full: bool = False,
    trigger: str = "job",
    job_id: str | None = None,
    encoders: Encoders | None = None,
    progress: bool = False,
) -> RefreshOutcome:
    """Embed what is stale (everything with `full`) for the serving model, and backfill `embedder`'s if it differs."""
    await adopt_if_empty(conn, spec_from_model_name(embedder.model_name, embedder.dimension))
    active = await active_generation(conn)
    serving: Embedder | None = embedder
    if embedder.model_name != active.model:
        try:
            serving = await (encoders or Encoders(settings)).load(active)
        except ModelNotLoadable as error:
            log.warning("the active generation is not refreshed: %s", error)
            serving = None
    run = None
    if serving is not None:
        run = await embed_movies(
            conn, serving, full=full, trigger=trigger, job_id=job_id, batch_size=settings.embed_batch, progress=progress
        )
    outbox_done = await outbox.mark_done(conn, active.model)
    backfill = switched = None
    if embedder.model_name != active.model:
        backfill, switched = await backfill_next(
            conn, embedder, settings, trigger=trigger, job_id=job_id, progress=progress
        )
    index = None
    current = await describe_index(conn)
    if settings.index_type == "ivfflat" and run is not None and run.embedded:
        changed_share = await changed_since_build(conn)
        if current is None or changed_share > IVFFLAT_REBUILD_SHARE:
            index = await ensure_index(conn, settings, rebuild=current is not None)
            log.info("ivfflat index: %s (%.0f%% of vectors changed)", index.message, 100 * changed_share)
    return RefreshOutcome(run, outbox_done, index, backfill, switched)
