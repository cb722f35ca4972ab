"""Why a movie suits a user: the rated movies it resembles most, and the parts of its score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.errors import NotFound, Unavailable
from app.ranking import blend, popularity_prior, unit
from app.recommender import Recommender, UserRating
from app.sql import movies as movie_sql

MAX_MATCHES = 3


@dataclass(frozen=True)
class FavoriteMatch:
    """A movie the user rated, their rating and how similar it is to the explained movie."""

    movie: dict[str, Any]
    rating: float
    similarity: float


@dataclass(frozen=True)
class Explanation:
    """The explained movie, its score and the score's parts, the evidence and a one-line text."""

    movie: dict[str, Any]
    score: float
    similarity: float
    popularity: float
    popularity_weight: float
    text: str
    matches: list[FavoriteMatch] = field(default_factory=list)


def _stars(rating: float) -> str:
    return f"{rating:g}/5"


async def explain(recommender: Recommender, user_id: int, movie_id: int) -> Explanation:
    """Two round trips: the target with its vector, then the user's rated movies scored against it."""
    settings = recommender.settings
    async with recommender.pool.acquire() as conn:
        target_rows = await conn.fetch(movie_sql.MOVIES_WITH_EMBEDDINGS_BY_IDS, [movie_id])
        if not target_rows:
            raise NotFound(f"movie {movie_id} does not exist")
        target = dict(target_rows[0])
        embedding = target.pop("embedding")
        if embedding is None:
            raise Unavailable(f"movie {movie_id} has no embedding yet; run `movierec embed`")
        rated = await conn.fetch(movie_sql.RATED_SIMILAR_TO, user_id, movie_id)
    vector = np.asarray(embedding.to_numpy(), dtype=np.float32)
    ratings = [UserRating(r["id"], r["rating"], r["embedding"].to_numpy().astype(np.float32)) for r in rated]
    profile = recommender.profile(ratings)
    unit_vector = unit(vector)
    similarity = float(unit_vector @ profile) if profile is not None and unit_vector is not None else 0.0
    popularity = popularity_prior(target["rating_count"], target["vote_count"], settings.popularity_scale)
    weight = settings.popularity_weight
    liked = [r for r in rated if r["rating"] >= settings.like_threshold]
    evidence = sorted(liked or rated, key=lambda r: (-r["similarity"], r["id"]))[:MAX_MATCHES]
    matches = [
        FavoriteMatch(
            movie={k: v for k, v in dict(r).items() if k not in ("embedding", "rating", "similarity")},
            rating=r["rating"],
            similarity=float(r["similarity"]),
        )
        for r in evidence
    ]
    if not rated:
        text = f"You have not rated anything yet; {target['title']} is a popular pick."
    elif not liked:
        text = (
            f"You have not rated anything {settings.like_threshold:g}/5 or higher yet; "
            f"{target['title']} is suggested for its popularity."
        )
    else:
        best = matches[0]
        text = (
            f"You rated {best.movie['title']} {_stars(best.rating)}; "
            f"{target['title']} is {best.similarity:.0%} similar."
        )
    return Explanation(
        movie=target,
        score=blend(similarity, popularity, weight) if profile is not None else popularity,
        similarity=similarity,
        popularity=popularity,
        popularity_weight=weight,
        text=text,
        matches=matches,
    )
