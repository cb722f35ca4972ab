"""Text to normalised vectors: the sentence-transformers model behind a small protocol."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from app.embeddings.paths import resolve_model_path
from app.settings import Settings
from app.vectors import FloatArray

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> FloatArray: ...


def _module_configs(folder: Path) -> list[tuple[str, dict[str, object]]]:
    """Each module's type and config.json, in the order modules.json runs them."""
    modules = json.loads((folder / "modules.json").read_text())
    configs: list[tuple[str, dict[str, object]]] = []
    for module in modules:
        config = folder / module.get("path", "") / "config.json"
        configs.append((str(module.get("type", "")), json.loads(config.read_text()) if config.is_file() else {}))
    return configs


@lru_cache(maxsize=16)
def model_dimension(model: str) -> int:
    """The model's output dimension from its saved module configs (no weights loaded), cached.

    The last module that sets a size wins: a Dense projection after pooling, else the pooling
    (sentence-transformers 6 writes `embedding_dimension`, earlier releases `word_embedding_dimension`).
    A model without readable configs is loaded once and asked.
    """
    folder = Path(resolve_model_path(model))
    dimension: int | None = None
    if (folder / "modules.json").is_file():
        for kind, config in _module_configs(folder):
            if kind.endswith(".Dense") and "out_features" in config:
                dimension = int(str(config["out_features"]))
            elif kind.endswith(".Pooling"):
                size = config.get("embedding_dimension", config.get("word_embedding_dimension"))
                dimension = int(str(size)) if size is not None else dimension
    if dimension is not None:
        return dimension
    return SentenceTransformerEmbedder(model, device="cpu").dimension


class DeviceUnavailable(RuntimeError):
    """MOVIEREC_DEVICE names a device this torch cannot use."""


def resolve_device(device: str) -> str:
    """`auto` means CUDA when torch sees a GPU, else the CPU; a CUDA device that is not there is refused in one line."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not device.startswith("cuda"):
        return device
    if not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"MOVIEREC_DEVICE={device} but this torch sees no CUDA device ({torch.__version__}); "
            "use MOVIEREC_DEVICE=auto or cpu"
        )
    # torch accepts "cuda:7" on a one-GPU machine until the model's first tensor moves there.
    count, index = torch.cuda.device_count(), device.partition(":")[2]
    if device != "cuda" and not (device == f"cuda:{index}" and index.isdigit() and int(index) < count):
        raise DeviceUnavailable(
            f"MOVIEREC_DEVICE={device} but this machine has {count} CUDA device(s): "
            f"use cuda, or cuda:0 to cuda:{count - 1}"
        )
    return device


class SentenceTransformerEmbedder:
    """The real model, loaded once; `encode` is CPU/GPU-bound and belongs off the event loop."""

    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 64, threads: int = 0) -> None:
        # Nothing may be fetched from a model hub at run time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)
        self._model_name = model
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self._model = SentenceTransformer(resolve_model_path(model), device=self.device)
        # sentence-transformers 6 renamed the accessor; keep working with 3.x-5.x too.
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dimension = get_dimension()
        assert dimension is not None
        self._dimension = int(dimension)
        log.info("loaded %s on %s (%d dimensions)", model, self.device, self._dimension)

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_seq_length(self) -> int:
        """How many word pieces the model reads before truncating."""
        return int(self._model.max_seq_length or 0)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Encode texts into unit-length float32 vectors."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(settings: Settings) -> Embedder:
    """The configured model with the configured encoder (torch on the configured device, or ONNX Runtime)."""
    if settings.encoder != "torch":
        from app.embeddings.onnx import load_onnx_embedder

        return load_onnx_embedder(settings)
    return SentenceTransformerEmbedder(
        settings.model,
        device=settings.device,
        batch_size=settings.batch_size,
        threads=settings.torch_threads,
    )
