"""Why a movie suits a user: the rated movies it resembles most, and the parts of its score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.errors import NotFound, Unavailable
from app.ranking import blend, popularity_prior, unit
from app.recommender import Recommender
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
    """Three queries: the target with its vector, the closest rated movies, the taste profile."""
    settings = recommender.settings
    async with recommender.pool.acquire() as conn:
        target_rows = await conn.fetch(movie_sql.MOVIES_WITH_EMBEDDINGS_BY_IDS, [movie_id])
        if not target_rows:
            raise NotFound(f"movie {movie_id} does not exist")
        target = dict(target_rows[0])
        embedding = target.pop("embedding")
        if embedding is None:
            raise Unavailable(f"movie {movie_id} has no embedding yet; run `movierec embed`")
        evidence = await conn.fetch(movie_sql.RATED_SIMILAR_TO, user_id, movie_id, settings.like_threshold, MAX_MATCHES)
        profile = (await recommender.profiles(conn, [user_id]))[user_id]
    vector = unit(np.asarray(embedding.to_numpy(), dtype=np.float32))
    similarity = float(vector @ profile) if profile is not None and vector is not None else 0.0
    popularity = popularity_prior(target["rating_count"], target["vote_count"], settings.popularity_scale)
    weight = settings.popularity_weight
    liked = evidence[0]["liked"] if evidence else 0
    # Liked movies come first; show disliked ones only when nothing was liked.
    shown = [r for r in evidence if r["rating"] >= settings.like_threshold] if liked else list(evidence)
    matches = [
        FavoriteMatch(
            movie={k: v for k, v in dict(r).items() if k not in ("rating", "similarity", "rated", "liked")},
            rating=r["rating"],
            similarity=float(r["similarity"]),
        )
        for r in shown
    ]
    if not evidence:
        text = f"You have not rated anything yet; {target['title']} is a popular pick."
    elif not liked:
        text = (
            f"You have not rated anything {settings.like_threshold:g}/5 or higher yet; "
            f"{target['title']} is suggested for its popularity."
        )
    else:
        best = matches[0]
        similar = f"{target['title']} is {best.similarity:.0%} similar"
        text = f"You rated {best.movie['title']} {_stars(best.rating)}; {similar}."
    return Explanation(
        movie=target,
        score=blend(similarity, popularity, weight) if profile is not None else popularity,
        similarity=similarity,
        popularity=popularity,
        popularity_weight=weight,
        text=text,
        matches=matches,
    )
