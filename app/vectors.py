"""The one array type for embeddings (a vector or a stack of them) and unit scaling."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def unit(vector: npt.ArrayLike) -> FloatArray | None:
    """The vector scaled to length one, or None for a zero vector."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return None if norm < 1e-9 else (array / norm).astype(np.float32)
