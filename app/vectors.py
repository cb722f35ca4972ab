"""The one array type for embeddings (a vector or a stack of them), unit scaling, and stored vectors as arrays."""

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
