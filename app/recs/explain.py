"""Why a movie suits a user: the rated films behind its collaborative score, the rated movies it resembles,
and the parts of its score, computed exactly as the list that served it (app/recs/personal.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.catalogue.movies import MOVIE_COLUMNS
from app.errors import NotFound, Unavailable
from app.recs.hybrid import RATED_AND_PROFILE
from app.recs.personal import hybrid_weights
from app.recs.ranking import Strategy, blend, collaborative_part, hybrid_score, popularity_prior
from app.recs.scoring import NOTHING_REACHED, ServedModels, contributions, load_ratings_and_model, reach
from app.settings import Settings

MAX_MATCHES = 3
MAX_CONTRIBUTORS = 50

# The explained film ($3) and the rated films behind its collaborative score ($4), with the target's
# similarity to the user's taste profile, computed as the list computes it (NULL without a profile).
TARGET_AND_EVIDENCE = f"""
WITH {RATED_AND_PROFILE}
SELECT {MOVIE_COLUMNS},
       CASE WHEN m.id = $3 THEN (SELECT 1 - (m.embedding <=> p.direction) FROM profile p) END AS profile_similarity
FROM movies m
WHERE m.id = $3 OR m.id = ANY($4::bigint[])
"""

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
class ModelEvidence:
    """A rated film and how much it adds to the explained movie's raw collaborative score."""

    movie: dict[str, Any]
    rating: float
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """The explained movie, its score and the score's parts and weights, the evidence and a one-line text."""

    movie: dict[str, Any]
    strategy: Strategy
    score: float
    similarity: float
    popularity: float
    collaborative: float
    collaborative_weight: float
    content_weight: float
    popularity_weight: float
    text: str
    matches: list[FavoriteMatch] = field(default_factory=list)
    model_evidence: list[ModelEvidence] = field(default_factory=list)


def _stars(rating: float) -> str:
    return f"{rating:g}/5"


async def explain(
    conn: asyncpg.Connection, settings: Settings, models: ServedModels, user_id: int, movie_id: int
) -> Explanation:
    """Three queries: the user's ratings (scored in process as the list scores them), the target with the
    films behind its score, and the closest rated movies."""
    thresholds = {"like_threshold": settings.like_threshold, "dislike_below": settings.dislike_below}
    model_id, ratings = await load_ratings_and_model(conn, [user_id])
    rated = ratings[user_id]
    served = await models.get(conn, model_id)
    hybrid = served is not None and bool(rated)
    reached = reach(served, rated, **thresholds) if served is not None else NOTHING_REACHED
    contributors = (
        contributions(served, rated, movie_id, **thresholds, limit=MAX_CONTRIBUTORS) if served is not None else []
    )
    rows = {
        row["id"]: dict(row)
        for row in await conn.fetch(
            TARGET_AND_EVIDENCE, [user_id], settings.like_threshold, movie_id, [c[0] for c in contributors]
        )
    }
    if movie_id not in rows:
        raise NotFound(f"movie {movie_id} does not exist")
    target = _movie(rows[movie_id], ("profile_similarity",))
    if not target["has_embedding"]:
        raise Unavailable(f"movie {movie_id} has no embedding yet; run `movierec embed`")
    evidence = await conn.fetch(RATED_SIMILAR_TO, user_id, movie_id, settings.like_threshold, MAX_MATCHES)
    profile_similarity = rows[movie_id]["profile_similarity"]
    has_profile = profile_similarity is not None and math.isfinite(profile_similarity)
    similarity = float(profile_similarity) if has_profile else 0.0
    popularity = popularity_prior(target["rating_count"], target["vote_count"], settings.popularity_scale)
    liked = evidence[0]["liked"] if evidence else 0
    # Liked movies come first; show disliked ones only when nothing was liked.
    shown = [r for r in evidence if r["rating"] >= settings.like_threshold] if liked else list(evidence)
    matches = [
        FavoriteMatch(
            movie=_movie(r, ("rating", "similarity", "rated", "liked")),
            rating=r["rating"],
            similarity=float(r["similarity"]),
        )
        for r in shown
    ]
    model_evidence = [
        ModelEvidence(movie=_movie(rows[film], ("profile_similarity",)), rating=rating, contribution=contribution)
        for film, rating, contribution in (contributors if hybrid else [])
        if film in rows
    ]
    common: dict[str, Any] = {"movie": target, "similarity": similarity, "popularity": popularity, "matches": matches}
    if hybrid:
        weights = hybrid_weights(settings)
        part = collaborative_part(reached.score_of(movie_id), reached.best)
        return Explanation(
            **common,
            strategy=Strategy.HYBRID,
            score=hybrid_score(part, similarity, popularity, weights),
            collaborative=part,
            collaborative_weight=weights.collaborative,
            content_weight=weights.content,
            popularity_weight=weights.popularity,
            text=_hybrid_text(target, matches, model_evidence, settings),
            model_evidence=model_evidence,
        )
    weight = settings.popularity_weight
    return Explanation(
        **common,
        strategy=Strategy.CONTENT_PROFILE if has_profile else Strategy.COLD_START_POPULAR,
        score=blend(similarity, popularity, weight) if has_profile else popularity,
        collaborative=0.0,
        collaborative_weight=0.0,
        content_weight=1.0 - weight if has_profile else 0.0,
        popularity_weight=weight if has_profile else 1.0,
        text=_content_text(target, bool(evidence), liked, matches, settings),
    )


def _movie(row: Mapping[str, Any], extra: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k not in extra}


def _content_text(
    target: dict[str, Any], rated: bool, liked: int, matches: list[FavoriteMatch], settings: Settings
) -> str:
    if not rated:
        return f"You have not rated anything yet; {target['title']} is a popular pick."
    if not liked:
        return (
            f"You have not rated anything {settings.like_threshold:g}/5 or higher yet; "
            f"{target['title']} is suggested for its popularity."
        )
    best = matches[0]
    return f"You rated {best.movie['title']} {_stars(best.rating)}; {target['title']} is {best.similarity:.0%} similar."


def _hybrid_text(
    target: dict[str, Any], matches: list[FavoriteMatch], evidence: list[ModelEvidence], settings: Settings
) -> str:
    """People who liked what you liked, what it resembles, and what pushed it down."""
    sentences = []
    helped = [e for e in evidence if e.contribution > 0 and e.rating >= settings.like_threshold]
    if helped:
        names = " and ".join(e.movie["title"] for e in helped[:2])
        sentences.append(
            f"You liked {names}; people who liked {'them' if len(helped) > 1 else 'it'} also liked {target['title']}."
        )
    liked_matches = [m for m in matches if m.rating >= settings.like_threshold]
    if liked_matches:
        best = liked_matches[0]
        sentences.append(f"It is {best.similarity:.0%} similar to {best.movie['title']} ({_stars(best.rating)}).")
    hurt = [e for e in evidence if e.contribution < 0]
    if hurt:
        sentences.append(
            f"You rated {hurt[0].movie['title']} {_stars(hurt[0].rating)}, which pushes films like it down."
        )
    if not sentences:
        sentences.append(f"{target['title']} is well liked by people with tastes like yours.")
    return " ".join(sentences)
