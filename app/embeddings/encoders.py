"""Embedders by generation, each loaded once: during a model switch the worker embeds with two, and the
API encodes queries with whichever model made the vectors it serves."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from app.embeddings.generations import Generation, GenerationSpec, load_generations
from app.embeddings.model import Embedder, load_embedder
from app.settings import Settings

log = logging.getLogger(__name__)


class ModelNotLoadable(RuntimeError):
    """A generation's model cannot be loaded here (a directory gone, a test's fake model)."""


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
# size no longer matches the served vectors makes it look at once (QueryEncoder.refresh).
CHECK_EVERY_S = 1.0


class QueryEncoder:
    """The API's query encoder: the active generation's model, following switches without a restart.

    When a next generation appears, its model is loaded in the background, so the switch finds it ready.
    """

    def __init__(self, pool: asyncpg.Pool, encoders: Encoders, *, enabled: bool = True) -> None:
        self.pool, self.encoders, self.enabled = pool, encoders, enabled
        self.active: Generation | None = None
        self._checked = 0.0
        self._preloading: asyncio.Task[Embedder] | None = None

    async def current(self, *, force: bool = False) -> Embedder | None:
        """The embedder for the active generation (None when this process serves without a model)."""
        if not self.enabled:
            return None
        now = time.monotonic()
        if force or self.active is None or now - self._checked >= CHECK_EVERY_S:
            self._checked = now
            async with self.pool.acquire() as conn:
                generations = await load_generations(conn)
            active, upcoming = generations.get("active"), generations.get("next")
            if active is not None and active != self.active:
                if self.active is not None:
                    log.info("embedding generation %d (%s) is active: queries follow it", active.id, active.model)
                self.active = active
            if upcoming is not None and self._preloading is None:
                self._preloading = asyncio.ensure_future(self.encoders.load(upcoming))
        if self.active is None:
            return None
        try:
            return await self.encoders.load(self.active)
        except ModelNotLoadable as error:
            log.warning("%s: semantic search is off until it loads", error)
            return None
