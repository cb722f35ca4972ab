"""The arq worker: a cron refresh of embeddings, on-demand refreshes, the outbox and its sweeper.

`WorkerSettings` is complete as it stands, read from the environment (MOVIEREC_*, DATABASE_URL,
REDIS_URL) when this module is imported: `arq jobs.worker.WorkerSettings` and `movierec worker` run
the same class. Tests pass their own Redis and `ctx` (settings, an embedder) to arq's `create_worker`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, ClassVar

from arq import cron, func
from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.worker import Function

from app.cron import parse_cron
from app.db.connections import create_pool, resolve_database_url
from app.db.migrate import check_dimension
from app.embeddings import outbox
from app.embeddings.chunks import plan_shared_run, run_chunk, run_model
from app.embeddings.encoders import Encoders
from app.embeddings.generations import active_generation, load_generations, spec_from_model_name
from app.embeddings.model import load_embedder
from app.embeddings.pipeline import EmbeddingBusy
from app.embeddings.refresh import refresh_embeddings
from app.embeddings.switch import prepare_next
from app.queue.client import (
    CHUNK_FUNCTION,
    INDEX_FUNCTION,
    OUTBOX_FUNCTION,
    OUTBOX_JOB_ID,
    REFRESH_FUNCTION,
    REFRESH_JOB_ID,
    TRAIN_FUNCTION,
)
from app.queue.redis_server import redis_url_of
from app.recs.training import TooFewRatings, TrainingBusy, train_recommender
from app.search.index import ensure_index
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def _shared(ctx: dict[str, Any], *, trigger: str) -> dict[str, Any]:
    """Plan a shared run (a full refresh, or the configured model's backfill) and queue its chunks."""
    settings: Settings = ctx["settings"]
    embedder = ctx["embedder"]
    async with ctx["pool"].acquire() as conn:
        active = await active_generation(conn)
        slot, model, full = "active", active.model, True
        if embedder.model_name != active.model:
            await prepare_next(conn, spec_from_model_name(embedder.model_name, embedder.dimension))
            slot, model, full = "next", embedder.model_name, False
        try:
            plan = await plan_shared_run(
                conn,
                model,
                slot=slot,
                full=full,
                chunk_size=settings.refresh_chunk_size,
                trigger=trigger,
                job_id=ctx.get("job_id"),
            )
        except EmbeddingBusy as error:
            log.info("%s shared run not started: %s", trigger, error)
            return {"skipped": str(error)}
    for first_id, _ in plan.chunks:
        await ctx["redis"].enqueue_job(
            CHUNK_FUNCTION, plan.run_id, first_id, _job_id=f"embed-chunk-{plan.run_id}-{first_id}"
        )
    log.info("%s: run %d of the %s generation split into %d chunks", trigger, plan.run_id, slot, len(plan.chunks))
    return {"run_id": plan.run_id, "chunks": len(plan.chunks), "slot": slot}


async def embed_chunk_job(ctx: dict[str, Any], run_id: int, first_id: int) -> dict[str, Any]:
    """One chunk of a shared run, with the model that run embeds with."""
    async with ctx["pool"].acquire() as conn:
        generations = await load_generations(conn)
        model = await run_model(conn, run_id)
        spec = next((g for g in generations.values() if g.model == model), None)
        # The configured model is preloaded in `encoders`; a run of another generation's model loads it.
        embedder = ctx["embedder"] if spec is None else await ctx["encoders"].load(spec)
        outcome = await run_chunk(conn, embedder, ctx["settings"], run_id, first_id)
    if outcome.run_finished:
        log.info("shared run %d finished%s", run_id, " and switched generations" if outcome.switched else "")
    return {"run_id": run_id, "first_id": first_id, "embedded": outcome.embedded, "finished": outcome.run_finished}


async def _refresh(ctx: dict[str, Any], *, full: bool, trigger: str) -> dict[str, Any]:
    settings: Settings = ctx["settings"]
    if settings.refresh_chunk_size and (full or trigger == "model-change"):
        return await _shared(ctx, trigger=trigger)
    async with ctx["pool"].acquire() as conn:
        try:
            outcome = await refresh_embeddings(
                conn,
                ctx["embedder"],
                settings,
                full=full,
                trigger=trigger,
                job_id=ctx.get("job_id"),
                encoders=ctx.get("encoders"),
            )
        except EmbeddingBusy:
            log.info("%s refresh skipped: another refresh is running", trigger)
            return {"skipped": "another refresh is running"}
    report: dict[str, Any] = {"outbox_done": outcome.outbox_done}
    for what, run in (("refresh", outcome.run), ("backfill", outcome.backfill)):
        if run is not None:
            log.info(
                "%s %s: embedded %d, current %d, failed %d in %.1fs",
                trigger,
                what,
                run.embedded,
                run.skipped,
                run.failed,
                run.seconds,
            )
            report[what] = {"run_id": run.run_id, "embedded": run.embedded, "failed": run.failed}
    if outcome.run is not None:  # the flat keys callers read before generations existed
        report.update(run_id=outcome.run.run_id, embedded=outcome.run.embedded, failed=outcome.run.failed)
    if outcome.switched is not None:
        report["switched_to"] = outcome.switched.active.model
    return report


async def rebuild_index_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the vector index (the API's rebuildVectorIndex): built beside the old one, swapped in once valid."""
    async with ctx["pool"].acquire() as conn:
        outcome = await ensure_index(conn, ctx["settings"], rebuild=True)
    log.info("vector index: %s", outcome.message)
    return {"index": outcome.message}


async def refresh_job(ctx: dict[str, Any], *, full: bool = False, trigger: str = "on_demand") -> dict[str, Any]:
    """Refresh embeddings now (enqueued by the API's refreshEmbeddings)."""
    return await _refresh(ctx, full=full, trigger=trigger)


async def scheduled_refresh(ctx: dict[str, Any]) -> dict[str, Any]:
    """The cron tick: an incremental refresh; nothing happens if one is already running."""
    return await _refresh(ctx, full=False, trigger="cron")


async def process_outbox(ctx: dict[str, Any]) -> dict[str, Any]:
    """Embed what the outbox recorded (new or changed movies): an incremental refresh."""
    return await _refresh(ctx, full=False, trigger="outbox")


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Re-enqueue outbox work left pending (for example while Redis was down)."""
    settings: Settings = ctx["settings"]
    async with ctx["pool"].acquire() as conn:
        waiting, oldest = await outbox.pending(conn, float(settings.outbox_grace_seconds))
    if waiting:
        await ctx["redis"].enqueue_job(OUTBOX_FUNCTION, _job_id=OUTBOX_JOB_ID)
        log.info("sweeper: %d outbox rows pending since %s, outbox job enqueued", waiting, oldest)
    return waiting


async def _train(ctx: dict[str, Any], trigger: str) -> dict[str, Any]:
    settings: Settings = ctx["settings"]
    async with ctx["pool"].acquire() as conn:
        try:
            result = await train_recommender(conn, settings, trigger=trigger, job_id=ctx.get("job_id"))
        except TrainingBusy:
            log.info("%s training skipped: another training is running", trigger)
            return {"skipped": "another training is running"}
        except TooFewRatings as error:
            log.info("%s training skipped: %s", trigger, error)
            return {"skipped": str(error)}
    log.info(
        "%s training: model %d over %d ratings, %d movies, %d weights in %.1fs (peak RSS %.0f MiB)",
        trigger,
        result.model_id,
        result.ratings,
        result.movies,
        result.weights,
        result.seconds,
        result.peak_rss_mb,
    )
    return {"model_id": result.model_id, "movies": result.movies, "seconds": result.seconds}


async def train_job(ctx: dict[str, Any], *, trigger: str = "on_demand") -> dict[str, Any]:
    """Train the collaborative model now (enqueued by the API's trainRecommender)."""
    return await _train(ctx, trigger)


async def scheduled_training(ctx: dict[str, Any]) -> dict[str, Any]:
    """The cron tick: train on every stored rating; nothing happens if a training is running."""
    return await _train(ctx, "cron")


async def startup(ctx: dict[str, Any]) -> None:
    """Open the database pool and load the model once per worker process."""
    settings: Settings = ctx.get("settings") or get_settings()
    ctx["settings"] = settings
    # Named per process in pg_stat_activity (and so in pg_locks): which worker holds which chunk.
    name = {"application_name": f"movierec-worker:{os.getpid()}"}
    ctx["pool"] = await create_pool(await resolve_database_url(settings), max_size=4, server_settings=name)
    async with ctx["pool"].acquire() as conn:
        await check_dimension(conn)
        active = await active_generation(conn)
    # Leave half the cores to the API and PostgreSQL unless told otherwise.
    threads = settings.torch_threads or max(1, (os.cpu_count() or 2) // 2)
    model_settings = settings.model_copy(update={"torch_threads": threads})
    if ctx.get("embedder") is None:
        ctx["embedder"] = await asyncio.to_thread(load_embedder, model_settings)
    # The active generation's model too, when another is configured: it keeps serving (and current) until the switch.
    ctx["encoders"] = ctx.get("encoders") or Encoders(model_settings, ctx["embedder"])
    if ctx["embedder"].model_name != active.model:
        log.info(
            "model change: %s serves, %s is configured; backfilling it now", active.model, settings.embedding_model
        )
        await ctx["redis"].enqueue_job(REFRESH_FUNCTION, _job_id=REFRESH_JOB_ID, full=False, trigger="model-change")


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the pool."""
    if "pool" in ctx:
        await ctx["pool"].close()


def functions_for(settings: Settings) -> list[Function]:
    """The job functions with the configured time limit.

    keep_result=0: the fixed job id is free again as soon as a refresh finishes (the
    embedding_runs row is the lasting record). A job whose worker died is redelivered once
    its time limit has passed (arq delivers at least once; a refresh is idempotent).
    """
    timeout = settings.refresh_timeout_s
    return [
        func(refresh_job, name=REFRESH_FUNCTION, keep_result=0, timeout=timeout, max_tries=3),
        func(process_outbox, name=OUTBOX_FUNCTION, keep_result=0, timeout=timeout, max_tries=3),
        func(train_job, name=TRAIN_FUNCTION, keep_result=0, timeout=timeout, max_tries=3),
        func(rebuild_index_job, name=INDEX_FUNCTION, keep_result=0, timeout=timeout, max_tries=3),
        # A chunk is a fraction of a run: a dead worker's chunk is delivered again after its time limit.
        func(embed_chunk_job, name=CHUNK_FUNCTION, keep_result=0, timeout=timeout, max_tries=5),
    ]


def cron_jobs_for(settings: Settings, *, run_at_startup: bool = False) -> list[CronJob]:
    """The refresh on MOVIEREC_REFRESH_CRON, training on MOVIEREC_TRAIN_CRON (UTC), the outbox sweeper every 30 s."""
    refresh, training = parse_cron(settings.refresh_cron), parse_cron(settings.train_cron)
    return [
        cron(
            scheduled_refresh,
            name="scheduled_refresh",
            **refresh,  # type: ignore[arg-type]
            run_at_startup=run_at_startup,
            timeout=settings.refresh_timeout_s,
        ),
        cron(
            scheduled_training,
            name="scheduled_training",
            **training,  # type: ignore[arg-type]
            run_at_startup=run_at_startup,
            timeout=settings.refresh_timeout_s,
        ),
        cron(sweep_outbox, name="sweep_outbox", second={0, 30}, run_at_startup=run_at_startup),
    ]


_SETTINGS = get_settings()


class WorkerSettings:
    """arq's settings for movierec's worker, complete: functions, cron jobs, Redis and time limits."""

    functions: ClassVar[list[Function]] = functions_for(_SETTINGS)
    cron_jobs: ClassVar[list[CronJob]] = cron_jobs_for(_SETTINGS)
    on_startup = startup
    on_shutdown = shutdown
    job_timeout = _SETTINGS.refresh_timeout_s
    max_jobs = _SETTINGS.worker_max_jobs
    health_check_interval = 10
    # With REDIS_URL unset this is the embedded Redis's socket; `movierec worker` starts that server.
    redis_settings = RedisSettings.from_dsn(redis_url_of(_SETTINGS))
