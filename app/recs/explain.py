"""Why a movie suits a user: the rated movies it resembles most, and the parts of its score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import numpy as np

from app.catalogue.movies import MOVIE_COLUMNS
from app.errors import NotFound, Unavailable
from app.recs.profiles import load_profiles
from app.recs.ranking import blend, popularity_prior
from app.settings import Settings
from app.vectors import unit

MAX_MATCHES = 3

MOVIE_WITH_EMBEDDING = f"SELECT {MOVIE_COLUMNS}, m.embedding FROM movies m WHERE m.id = $1"

# The viewer's rated movies most similar to a target, liked ones ($3 threshold) first, with how
# many they rated and liked in all: the evidence for an explanation, whatever the number of ratings.
RATED_SIMILAR_TO = f"""
SELECT {MOVIE_COLUMNS}, r.rating::float8 AS rating,
       1 - (m.embedding <=> (SELECT t.embedding FROM movies t WHERE t.id = $2)) AS similarity,
       count(*) OVER () AS rated, count(*) FILTER (WHERE r.rating >= $3) OVER () AS liked
FROM ratings r JOIN movies m ON m.id = r.movie_id
WHERE r.user_id = $1 AND m.embedding IS NOT NULL AND r.movie_id <> $2
ORDER BY r.rating >= $3 DESC, similarity DESC, m.id
LIMIT $4
"""


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


async def explain(conn: asyncpg.Connection, settings: Settings, user_id: int, movie_id: int) -> Explanation:
    """Three queries: the target with its vector, the closest rated movies, the taste profile."""
    target_row = await conn.fetchrow(MOVIE_WITH_EMBEDDING, movie_id)
    if target_row is None:
        raise NotFound(f"movie {movie_id} does not exist")
    target = dict(target_row)
    embedding = target.pop("embedding")
    if embedding is None:
        raise Unavailable(f"movie {movie_id} has no embedding yet; run `movierec embed`")
    evidence = await conn.fetch(RATED_SIMILAR_TO, user_id, movie_id, settings.like_threshold, MAX_MATCHES)
    profile = (await load_profiles(conn, [user_id], settings.like_threshold))[user_id]
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
