"""The collaborative models inside an evaluation: trained on the training ratings only, scored in bulk.

Scores are the same sums the API computes at request time (app/recs/scoring.py: over the rated movies,
x(rating) * weight), done as one sparse product for every evaluated user at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse

from app.recs.collaborative import TrainingConfig, interaction, train_item_weights
from app.recs.training import training_config
from app.settings import Settings


@dataclass(frozen=True)
class UserScores:
    """One model's raw scores for the evaluated users: reached movies only, rated ones removed."""

    users: dict[int, int]  # user id -> row
    matrix: scipy.sparse.csr_matrix  # users x catalogue rows
    best: dict[int, float]  # user id -> the best score their positive ratings alone give an unseen film

    def of(self, user: int, seen_rows: set[int]) -> dict[int, float]:
        """Catalogue row -> raw score for the movies the user's ratings reach and has not rated."""
        row = self.users[user]
        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        columns, values = self.matrix.indices[start:end], self.matrix.data[start:end]
        return {int(c): float(v) for c, v in zip(columns, values, strict=True) if int(c) not in seen_rows}


def fit_and_score(
    train: Sequence[tuple[int, int, float]],
    users: Sequence[int],
    catalogue_rows: dict[int, int],
    settings: Settings,
    config: TrainingConfig | None = None,
) -> UserScores:
    """Train on (user, movie, rating) triples and score every user in `users` from their training ratings."""
    config = config or training_config(settings)
    like, dislike = settings.like_threshold, settings.dislike_below
    size = len(catalogue_rows)
    user_rows = {user: i for i, user in enumerate(users)}
    try:
        model = train_item_weights(train, config, like_threshold=like, dislike_below=dislike)
    except ValueError:  # too few ratings for any model: every score is zero, lists fall back to popularity
        return UserScores(user_rows, scipy.sparse.csr_matrix((len(users), size), dtype=np.float32), {})
    weights = scipy.sparse.csr_matrix(
        (
            model.weights,
            (_rows(model.movie_ids, catalogue_rows), _rows(model.neighbour_ids, catalogue_rows)),
        ),
        shape=(size, size),
    )
    mine = [(user_rows[u], catalogue_rows[m], interaction(r, like, dislike)) for u, m, r in train if u in user_rows]
    ratings = scipy.sparse.csr_matrix(
        ([v for _, _, v in mine], ([r for r, _, _ in mine], [c for _, c, _ in mine])),
        shape=(len(users), size),
        dtype=np.float32,
    )
    positive = ratings.maximum(0).tocsr()
    liked = (positive @ weights).tocsr()
    best = {}
    for user, row in user_rows.items():
        start, end = liked.indptr[row], liked.indptr[row + 1]
        seen = set(ratings.indices[ratings.indptr[row] : ratings.indptr[row + 1]].tolist())
        values = [v for c, v in zip(liked.indices[start:end], liked.data[start:end], strict=True) if c not in seen]
        best[user] = float(max(values, default=0.0))
    return UserScores(user_rows, (ratings @ weights).tocsr(), best)


def _rows(ids: npt.NDArray[np.int64], catalogue_rows: dict[int, int]) -> list[int]:
    return [catalogue_rows[int(i)] for i in ids]
