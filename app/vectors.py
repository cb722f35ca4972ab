"""The one array type for embeddings (a vector or a stack of them), unit scaling, stored vectors as arrays, and how
far two sets of vectors agree on each item's neighbours."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
NO_VECTOR: FloatArray = np.empty(0, dtype=np.float32)  # a candidate loaded without its vector


def unit(vector: npt.ArrayLike) -> FloatArray | None:
    """The vector scaled to length one, or None for a zero vector."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return None if norm < 1e-9 else (array / norm).astype(np.float32)


def as_array(stored: Any) -> FloatArray:
    """A vector as read from the database (pgvector's Vector, or a real[] list without pgvector) as float32."""
    values = stored.to_numpy() if hasattr(stored, "to_numpy") else stored
    return np.asarray(values, dtype=np.float32)


# PostgreSQL's binary form of a one-dimensional array (array_send): ndim, has-nulls, element type,
# length and lower bound, then a (length, value) pair per element.
ARRAY_HEADER = 20


def from_array_send(data: bytes, value_type: str) -> npt.NDArray[Any]:
    """A one-dimensional array without NULLs, as array_send wrote it, as numpy values (`value_type`: ">f4", ">i8")."""
    element = np.dtype([("length", ">i4"), ("value", value_type)])
    return np.frombuffer(data, dtype=element, offset=ARRAY_HEADER)["value"]


def neighbour_overlap(a: npt.NDArray[Any], b: npt.NDArray[Any], k: int = 10) -> float:
    """Mean share of each row's k nearest rows (by dot product: cosine for unit vectors) that `a` and `b` agree on.

    The guard between two encoders' vectors of the same texts: 1.0 when every item keeps its neighbours.
    """
    sa, sb = a @ a.T, b @ b.T
    np.fill_diagonal(sa, -np.inf)
    np.fill_diagonal(sb, -np.inf)
    top_a, top_b = np.argsort(-sa, axis=1)[:, :k], np.argsort(-sb, axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(top_a, top_b, strict=True)]))
