"""Test doubles that are honest about what they are."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from app.vectors import FloatArray


class FakeEmbedder:
    """Unit-length vectors seeded by a hash of each text: deterministic, meaningless."""

    def __init__(self, dimension: int = 384, model_name: str = "fake-embedder", fail_on: str | None = None) -> None:
        self._dimension = dimension
        self._model_name = model_name
        self.fail_on = fail_on
        self.calls: list[int] = []

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    def vector(self, text: str) -> FloatArray:
        """The vector this fake gives `text`."""
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(self._dimension).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.calls.append(len(texts))
        if self.fail_on is not None and any(self.fail_on in text for text in texts):
            raise RuntimeError("fake encoder failure")
        return np.stack([self.vector(text) for text in texts]) if texts else np.zeros((0, self._dimension), np.float32)
