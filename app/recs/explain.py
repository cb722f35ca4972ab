"""Why a movie suits a user: the rated films behind its collaborative score, the rated movies it resembles,
and the parts of its score, computed exactly as the list that served it (app/recs/personal.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.catalogue.movies import MOVIE_COLUMNS
from app.errors import NotFound, Unavailable
from app.recs.collaborative import DISLIKED, LIKED, WATCHED
from app.recs.personal import hybrid_weights
from app.recs.ranking import Strategy, blend, collaborative_part, hybrid_score, popularity_prior
from app.settings import Settings

MAX_MATCHES = 3
MAX_CONTRIBUTORS = 50
_SUMMARY_COLUMNS = ("model_id", "rated", "best", "raw", "profile_similarity")

# The user's ratings as the model reads them ($2 like threshold, $3 dislike-below, $4-$6 the values).
_RATED = """rated AS (
    SELECT movie_id, rating,
           CASE WHEN rating < $3 THEN $6::float8 WHEN rating >= $2 THEN $4::float8 ELSE $5::float8 END AS x
    FROM ratings WHERE user_id = $1
)"""
# In one statement, for one target ($7): the same collaborative score and user's best as the list's
# (app/recs/hybrid.py), the target's similarity to the same taste profile (NULL without one), and the
# rated films that add to (or, disliked, take from) its score, strongest first: a summary row per
# contributor, or one summary row alone.
EXPLAINED_SCORE = f"""
WITH model AS (SELECT active_model_id AS id FROM recommender_state), {_RATED},
collab AS (
    SELECT n.neighbor_id AS id, sum(n.weight * r.x) AS score, sum(n.weight * greatest(r.x, 0)) AS liked
    FROM rated r JOIN movie_neighbors n ON n.model_id = (SELECT id FROM model) AND n.movie_id = r.movie_id
    WHERE NOT EXISTS (SELECT 1 FROM rated s WHERE s.movie_id = n.neighbor_id)
    GROUP BY n.neighbor_id
),
profile AS (
    SELECT sum(g.total) AS direction
    FROM (
        SELECT r.rating, sum(m.embedding) AS total
        FROM rated r JOIN movies m ON m.id = r.movie_id
        WHERE r.rating >= $2 AND m.embedding IS NOT NULL
        GROUP BY r.rating
    ) g CROSS JOIN LATERAL generate_series(1, (g.rating * 2)::int)
),
summary AS (
    SELECT (SELECT id FROM model) AS model_id, (SELECT count(*) FROM rated) AS rated,
           coalesce((SELECT max(liked) FROM collab), 0) AS best,
           coalesce((SELECT score FROM collab WHERE id = $7), 0) AS raw,
           (SELECT 1 - (t.embedding <=> p.direction) FROM movies t, profile p WHERE t.id = $7) AS profile_similarity
),
evidence AS (
    SELECT {MOVIE_COLUMNS}, r.rating::float8 AS rating, n.weight * r.x AS contribution
    FROM rated r
    JOIN movie_neighbors n ON n.model_id = (SELECT id FROM model) AND n.movie_id = r.movie_id AND n.neighbor_id = $7
    JOIN movies m ON m.id = r.movie_id
    ORDER BY abs(n.weight * r.x) DESC, m.id
    LIMIT {MAX_CONTRIBUTORS}
)
SELECT s.*, e.* FROM summary s LEFT JOIN evidence e ON true
ORDER BY abs(e.contribution) DESC, e.id
"""

MOVIE_BY_ID = f"SELECT {MOVIE_COLUMNS} FROM movies m WHERE m.id = $1"

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


async def explain(conn: asyncpg.Connection, settings: Settings, user_id: int, movie_id: int) -> Explanation:
    """Three queries: the target, the closest rated movies, and the score's parts with the model's evidence."""
    target_row = await conn.fetchrow(MOVIE_BY_ID, movie_id)
    if target_row is None:
        raise NotFound(f"movie {movie_id} does not exist")
    target = dict(target_row)
    if not target["has_embedding"]:
        raise Unavailable(f"movie {movie_id} has no embedding yet; run `movierec embed`")
    evidence = await conn.fetch(RATED_SIMILAR_TO, user_id, movie_id, settings.like_threshold, MAX_MATCHES)
    model_params = (user_id, settings.like_threshold, settings.dislike_below, LIKED, WATCHED, DISLIKED, movie_id)
    scored = await conn.fetch(EXPLAINED_SCORE, *model_params)
    summary = scored[0]
    hybrid = summary["model_id"] is not None and summary["rated"] > 0
    contributors = [row for row in scored if row["id"] is not None] if hybrid else []
    profile_similarity = summary["profile_similarity"]
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
        ModelEvidence(
            movie=_movie(r, (*_SUMMARY_COLUMNS, "rating", "contribution")),
            rating=r["rating"],
            contribution=float(r["contribution"]),
        )
        for r in contributors
    ]
    common: dict[str, Any] = {"movie": target, "similarity": similarity, "popularity": popularity, "matches": matches}
    if hybrid:
        weights = hybrid_weights(settings)
        part = collaborative_part(float(summary["raw"]), float(summary["best"]))
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


def _movie(row: asyncpg.Record, extra: tuple[str, ...]) -> dict[str, Any]:
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
