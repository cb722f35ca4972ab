"""Embedders by generation, each loaded once: during a model switch the worker embeds with two, and the
API encodes queries with whichever model made the vectors it serves."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

import asyncpg

from app.db.connections import every
from app.embeddings.batching import QueryBatcher
from app.embeddings.generations import Generation, GenerationSpec, load_generations
from app.embeddings.model import Embedder, load_embedder
from app.settings import Settings
from app.vectors import FloatArray

log = logging.getLogger(__name__)


class ModelNotLoadable(RuntimeError):
    """A generation's model cannot be loaded here (a directory gone, a test's fake model)."""


def query_settings(settings: Settings) -> Settings:
    """The settings a process that encodes search texts loads its model with: MOVIEREC_QUERY_THREADS threads."""
    return settings.model_copy(update={"torch_threads": settings.query_threads})


class Encoders:
    """Loaded embedders keyed by the model name stored beside their vectors."""

    def __init__(self, settings: Settings, *preloaded: Embedder) -> None:
        self.settings = settings
        self._loaded: dict[str, Embedder] = {embedder.model_name: embedder for embedder in preloaded}

    def get(self, generation: GenerationSpec) -> Embedder:
        """The embedder that made (or makes) a generation's vectors, loaded on first use (blocking)."""
        if generation.model in self._loaded:
            return self._loaded[generation.model]
        settings = self.settings.model_copy(update={"model": generation.source, "encoder": generation.encoder})
        try:
            embedder = load_embedder(settings)
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelNotLoadable(f"cannot load {generation.source!r} ({generation.encoder}): {error}") from error
        if embedder.model_name != generation.model or embedder.dimension != generation.dimension:
            raise ModelNotLoadable(
                f"{generation.source!r} loads as {embedder.model_name} ({embedder.dimension} dimensions), "
                f"not {generation.model} ({generation.dimension})"
            )
        self._loaded[generation.model] = embedder
        return embedder

    async def load(self, generation: GenerationSpec) -> Embedder:
        """`get` off the event loop."""
        if generation.model in self._loaded:
            return self._loaded[generation.model]
        return await asyncio.to_thread(self.get, generation)

    def keep_only(self, models: set[str]) -> None:
        """Forget embedders no generation uses any more (a pruned model's memory)."""
        for name in set(self._loaded) - models:
            del self._loaded[name]


# How often an API process looks for a switched generation (one tiny read); a query vector whose
# size no longer matches the served vectors makes it look at once (`current(force=True)`).
CHECK_EVERY_S = 1.0


class QueryEncoder:
    """The API's query encoder: the active generation's model, following switches without a restart.

    When a next generation appears, its model is loaded in the background, so the switch finds it ready.
    """

    def __init__(self, pool: asyncpg.Pool, encoders: Encoders, *, enabled: bool = True) -> None:
        self.pool, self.encoders, self.enabled = pool, encoders, enabled
        self._batchers: dict[str, QueryBatcher] = {}
        # Vectors of texts searched lately, by (model, text): the next page of a search, or a text
        # many people type, skips the model. A model's vector for a text never changes, and a switched
        # generation's model is another key, so nothing here goes stale; the size bounds the memory.
        self._recent: OrderedDict[tuple[str, str], FloatArray] = OrderedDict()
        self.active: Generation | None = None
        self._checked = 0.0
        self._preloading: dict[str, asyncio.Task[None]] = {}
        # Set while a background task follows the generations (the API): requests then never look.
        self.watched = False

    async def current(self, *, force: bool = False) -> Embedder | None:
        """The embedder for the active generation (None when this process serves without a model)."""
        if not self.enabled:
            return None
        due = not self.watched and time.monotonic() - self._checked >= CHECK_EVERY_S
        if force or self.active is None or due:
            async with self.pool.acquire() as conn:
                await self.follow(conn)
        if self.active is None:
            return None
        try:
            return await self.encoders.load(self.active)
        except ModelNotLoadable as error:
            log.warning("%s: semantic search is off until it loads", error)
            return None

    async def encode(self, embedder: Embedder, text: str) -> FloatArray:
        """One search text's vector: a recent one again, else batched with other requests' texts."""
        key = (embedder.model_name, text)
        if (recent := self._recent.get(key)) is not None:
            self._recent.move_to_end(key)
            return recent
        settings = self.encoders.settings
        batcher = self._batchers.get(embedder.model_name)
        if batcher is None or batcher.embedder is not embedder:
            batcher = QueryBatcher(embedder, max_batch=settings.query_batch, parallel=settings.query_parallel)
            self._batchers[embedder.model_name] = batcher
        vector = await batcher.encode(text)
        if settings.query_cache:
            # A copy: the vector is a row of its batch's matrix, which a view would keep alive whole.
            vector = vector.copy()
            vector.flags.writeable = False  # shared by every request that searches this text
            self._recent[key] = vector
            while len(self._recent) > settings.query_cache:
                self._recent.popitem(last=False)
        return vector

    async def follow(self, conn: asyncpg.Connection) -> None:
        """Read the generations: a switched one is used from now on, a coming one's model preloaded."""
        self._checked = time.monotonic()
        generations = await load_generations(conn)
        active, upcoming = generations.get("active"), generations.get("next")
        if active is not None and active != self.active:
            if self.active is not None:
                log.info("embedding generation %d (%s) is active: queries follow it", active.id, active.model)
            self.active = active
        if upcoming is not None and upcoming.model not in self._preloading:  # a later backfill's model too
            self._preloading[upcoming.model] = asyncio.ensure_future(self._preload(upcoming))

    async def _preload(self, generation: Generation) -> None:
        try:
            await self.encoders.load(generation)
        except ModelNotLoadable as error:
            log.warning("the coming generation's model will not load here: %s", error)

    async def watch(self, dsn: str) -> None:
        """Follow the generations every CHECK_EVERY_S on a connection of its own, for the process's life."""
        if not self.enabled:
            return
        self.watched = True
        try:
            await every(CHECK_EVERY_S, dsn, self.follow)
        finally:
            self.watched = False
