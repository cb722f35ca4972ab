"""Item-item collaborative filtering, free of I/O: EASE (Steck 2019) trained in closed form, pruned per movie.

EASE learns a movie x movie weight matrix B with a zero diagonal from the user x movie matrix X:
B = I - P / diag(P), P = (X^T X + l2 I)^-1. A user's score for movie j is sum_i x_ui B_ij over the
movies i they rated, so only each movie's strongest weights need keeping (`neighbours`), and the
score is a sparse sum at request time (app/recs/scoring.py): no per-user training, a rating counts the
moment it is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # scipy is imported where a model is trained: every CLI command and API start would pay for it
    import scipy.sparse


@dataclass(frozen=True)
class TrainingConfig:
    """EASE's regularisation, how many weights each movie keeps, and the bounds on the matrix size."""

    method: Literal["ease", "cosine"] = "ease"
    l2: float = 300.0
    neighbours: int = 100
    # The dense Gram matrix is n x n: only movies with this many ratings take part, at most
    # `max_movies` of them (the most rated), so memory stays below max_movies^2 * 4 bytes * ~3.
    min_ratings: int = 2
    max_movies: int = 20_000


@dataclass(frozen=True)
class ItemWeights:
    """The trained model: for each covered movie its strongest neighbours and their weights."""

    movie_ids: npt.NDArray[np.int64]
    neighbour_ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float32]
    users: int
    movies: int
    ratings: int

    def rows(self) -> list[tuple[int, int, float]]:
        """(movie, neighbour, weight) triples, as stored."""
        return list(
            zip(self.movie_ids.tolist(), self.neighbour_ids.tolist(), self.weights.astype(float).tolist(), strict=True)
        )


# What a rating tells the model (the request-time sum in app/recs/scoring.py uses the same three values).
LIKED = 1.0  # rated at or above the like threshold
WATCHED = 0.6  # rated in between: seen, not loved
DISLIKED = -0.5  # rated below `dislike_below`: films like it are pushed down


def interaction(rating: float, like_threshold: float, dislike_below: float) -> float:
    """The value a rating enters the model with: LIKED, WATCHED or DISLIKED."""
    if rating < dislike_below:
        return DISLIKED
    return LIKED if rating >= like_threshold else WATCHED


def train_item_weights(
    ratings: Sequence[tuple[int, int, float]], config: TrainingConfig, *, like_threshold: float, dislike_below: float
) -> ItemWeights:
    """Fit EASE (or cosine item-kNN) on (user, movie, rating) triples; movies outside the bounds get no weights."""
    if not ratings:
        raise ValueError("no ratings to train on")
    users_arr = np.fromiter((u for u, _, _ in ratings), dtype=np.int64, count=len(ratings))
    movies_arr = np.fromiter((m for _, m, _ in ratings), dtype=np.int64, count=len(ratings))
    values = np.fromiter(
        (interaction(r, like_threshold, dislike_below) for _, _, r in ratings), dtype=np.float32, count=len(ratings)
    )
    movie_ids, movie_counts = np.unique(movies_arr, return_counts=True)
    eligible = movie_ids[movie_counts >= config.min_ratings]
    if len(eligible) > config.max_movies:
        counts = dict(zip(movie_ids.tolist(), movie_counts.tolist(), strict=True))
        eligible = np.sort(np.array(sorted(eligible.tolist(), key=lambda m: (-counts[m], m))[: config.max_movies]))
    if len(eligible) < 2:
        raise ValueError("too few movies with enough ratings to train on")
    keep = np.isin(movies_arr, eligible)
    user_ids, user_rows = np.unique(users_arr[keep], return_inverse=True)
    columns = np.searchsorted(eligible, movies_arr[keep])
    import scipy.sparse

    matrix = scipy.sparse.csr_matrix(
        (values[keep], (user_rows, columns)), shape=(len(user_ids), len(eligible)), dtype=np.float32
    )
    weights = ease_weights(matrix, config.l2) if config.method == "ease" else cosine_weights(matrix)
    sources, targets, kept = top_neighbours(weights, config.neighbours)
    return ItemWeights(
        movie_ids=eligible[sources],
        neighbour_ids=eligible[targets],
        weights=kept,
        users=len(user_ids),
        movies=len(eligible),
        ratings=int(keep.sum()),
    )


def cosine_weights(matrix: scipy.sparse.csr_matrix) -> npt.NDArray[np.float32]:
    """Item-item cosine similarity of the rating columns, diagonal zero: the item-kNN reference."""
    binary = (matrix != 0).astype(np.float32)
    norms = np.sqrt(np.asarray(binary.multiply(binary).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    gram = (binary.T @ binary).toarray().astype(np.float32)
    gram /= norms[:, np.newaxis]
    gram /= norms[np.newaxis, :]
    gram[np.diag_indices_from(gram)] = 0.0
    return np.asarray(gram, dtype=np.float32)


def ease_weights(matrix: scipy.sparse.csr_matrix, l2: float) -> npt.NDArray[np.float32]:
    """B = I - P / diag(P) with P = (X^T X + l2 I)^-1, diagonal zero; float32, inverted in place."""
    import scipy.linalg

    gram = (matrix.T @ matrix).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += l2
    # The Gram matrix is symmetric positive definite: Cholesky, then the inverse from it, in place.
    factor = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
    precision = scipy.linalg.cho_solve(factor, np.eye(len(gram), dtype=np.float32), check_finite=False)
    del factor, gram
    diagonal = np.diag(precision).copy()
    precision /= -diagonal[np.newaxis, :]
    precision[np.diag_indices_from(precision)] = 0.0
    return np.asarray(precision, dtype=np.float32)


def top_neighbours(
    weights: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's k largest positive weights as (row, column, weight) arrays."""
    k = min(k, weights.shape[1] - 1)
    columns = np.argpartition(-weights, k, axis=1)[:, :k]
    kept = np.take_along_axis(weights, columns, axis=1)
    rows = np.repeat(np.arange(len(weights)), k)
    flat_columns, flat_kept = columns.ravel(), kept.ravel()
    positive = flat_kept > 0
    return rows[positive], flat_columns[positive].astype(np.int64), flat_kept[positive].astype(np.float32)


def score_user(
    rated: Mapping[int, float],
    neighbours: Mapping[int, Sequence[tuple[int, float]]],
    *,
    like_threshold: float,
    dislike_below: float,
) -> dict[int, float]:
    """sum_i x_ui * w_ij over the user's rated movies i: what the API sums per request, as a reference."""
    scores: dict[int, float] = {}
    for movie, rating in rated.items():
        x = interaction(rating, like_threshold, dislike_below)
        for neighbour, weight in neighbours.get(movie, ()):
            scores[neighbour] = scores.get(neighbour, 0.0) + x * weight
    for movie in rated:
        scores.pop(movie, None)
    return scores
