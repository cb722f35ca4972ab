"""GraphQL types for ranked lists and explanations, built from what app.recs returns."""

from __future__ import annotations

import strawberry

from app.recs import explain as explain_model
from app.recs.ranking import Candidate, HybridWeights, Ranked, Strategy
from schema.types import Movie

RecommendationStrategy = strawberry.enum(
    Strategy,
    name="RecommendationStrategy",
    description="What produced a list. HYBRID: the collaborative model + content similarity + popularity; "
    "CONTENT_PROFILE: content similarity + popularity (no model yet); COLD_START_POPULAR: popular films.",
)


@strawberry.type(
    description="How a personal recommendation's score is made: collaborative + content + popularity = score. "
    "Each part is its weight times its value (collaborative in [-1, 1] relative to the user's best film, "
    "content = similarity to the taste profile, popularity = the prior)."
)
class ScoreParts:
    collaborative: float
    content: float
    popularity: float
    collaborative_weight: float
    content_weight: float
    popularity_weight: float

    @classmethod
    def of(cls, c: Candidate, weights: HybridWeights) -> ScoreParts:
        """The weighted parts of a candidate's score."""
        return cls(
            collaborative=weights.collaborative * c.collaborative,
            content=weights.content * c.similarity,
            popularity=weights.popularity * c.popularity,
            collaborative_weight=weights.collaborative,
            content_weight=weights.content,
            popularity_weight=weights.popularity,
        )


@strawberry.type(description="A recommended movie with its score and the parts of the score.")
class Recommendation:
    movie: Movie
    rank: int
    score: float = strawberry.field(description="What the list is sorted by (before diversity re-ranking).")
    similarity: float = strawberry.field(description="Cosine similarity to the query (0 on a cold start).")
    distance: float | None = strawberry.field(description="The index metric's distance; null when not a k-NN result.")
    popularity: float = strawberry.field(description="Popularity prior in [0, 1) (personal lists only).")
    collaborative: float = strawberry.field(
        description="The collaborative model's score relative to the user's best film, in [-1, 1] (HYBRID only)."
    )
    breakdown: ScoreParts | None = strawberry.field(
        description="The score's parts and weights (personal lists); they add up to score."
    )

    @classmethod
    def from_candidate(cls, c: Candidate, weights: HybridWeights | None = None) -> Recommendation:
        """Build from a ranked candidate (and the weights of its list, when its score is a sum of parts)."""
        return cls(
            movie=Movie.from_row(c.movie),
            rank=c.rank,
            score=c.score,
            similarity=c.similarity,
            distance=c.distance,
            popularity=c.popularity,
            collaborative=c.collaborative,
            breakdown=ScoreParts.of(c, weights) if weights is not None else None,
        )


def items_of(ranked: Ranked) -> list[Recommendation]:
    """A ranked list's items as their GraphQL type."""
    return [Recommendation.from_candidate(c, ranked.weights) for c in ranked.items]


@strawberry.type(description="A page of a ranked list and the strategy that produced it.")
class RecommendationList:
    strategy: RecommendationStrategy  # type: ignore[valid-type]
    items: list[Recommendation]
    offset: int = strawberry.field(description="How many items come before this page.")
    has_more: bool = strawberry.field(description="Whether a page at offset + limit has items.")

    @classmethod
    def of(cls, ranked: Ranked) -> RecommendationList:
        """A ranked result as its GraphQL type."""
        return cls(strategy=ranked.strategy, items=items_of(ranked), offset=ranked.offset, has_more=ranked.has_more)


@strawberry.type(description="Recommendations for one user in a batch.")
class UserRecommendations:
    user_id: strawberry.ID
    strategy: RecommendationStrategy  # type: ignore[valid-type]
    items: list[Recommendation]


@strawberry.type(description="A movie the user rated that resembles the explained movie.")
class FavoriteMatch:
    movie: Movie
    your_rating: float
    similarity: float


@strawberry.type(
    description="A film the user rated and what it adds to the explained movie's raw collaborative score: "
    "people who liked it also liked the explained movie (negative: it was disliked, and pushes it down)."
)
class PeopleAlsoLiked:
    movie: Movie
    your_rating: float
    contribution: float


@strawberry.type(
    description="score = collaborativeWeight * collaborative + contentWeight * similarity + popularityWeight * "
    "popularity (CONTENT_PROFILE: collaborativeWeight 0, contentWeight 1 - popularityWeight)."
)
class ScoreBreakdown:
    similarity: float = strawberry.field(description="Cosine similarity to the user's taste profile.")
    popularity: float
    popularity_weight: float
    collaborative: float = strawberry.field(description="The model's score relative to the user's best, [-1, 1].")
    collaborative_weight: float
    content_weight: float
    score: float


@strawberry.type(description="Why a movie suits a user, computed as the list that served it.")
class Explanation:
    movie: Movie
    strategy: RecommendationStrategy  # type: ignore[valid-type]
    score: float
    text: str
    similar_to_your_favorites: list[FavoriteMatch]
    people_also_liked: list[PeopleAlsoLiked] = strawberry.field(
        description="Your rated films behind the collaborative part, strongest first (HYBRID only)."
    )
    breakdown: ScoreBreakdown

    @classmethod
    def from_model(cls, e: explain_model.Explanation) -> Explanation:
        """Build from app.recs.explain.Explanation."""
        return cls(
            movie=Movie.from_row(e.movie),
            strategy=e.strategy,
            score=e.score,
            text=e.text,
            similar_to_your_favorites=[
                FavoriteMatch(movie=Movie.from_row(m.movie), your_rating=m.rating, similarity=m.similarity)
                for m in e.matches
            ],
            people_also_liked=[
                PeopleAlsoLiked(movie=Movie.from_row(m.movie), your_rating=m.rating, contribution=m.contribution)
                for m in e.model_evidence
            ],
            breakdown=ScoreBreakdown(
                similarity=e.similarity,
                popularity=e.popularity,
                popularity_weight=e.popularity_weight,
                collaborative=e.collaborative,
                collaborative_weight=e.collaborative_weight,
                content_weight=e.content_weight,
                score=e.score,
            ),
        )
