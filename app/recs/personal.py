"""Which path serves a user's list, and how it is ranked: the one rule the API and `evaluate` share.

1. HYBRID when a collaborative model serves and the user has rated something: the model's best
   films for the user, scored by `rank_hybrid`; when the model offers fewer films than the pool (a
   filter on years nobody rated, ratings it does not cover), its popular films and the content
   candidates join them, so films nobody rated can reach the list.
2. CONTENT_PROFILE when there is no model (too few ratings to train one: the demo) but the user
   likes something: content similarity blended with the popularity prior.
3. COLD_START_POPULAR otherwise: popular films, most rated first.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.recs.hybrid import HybridPool
from app.recs.ranking import (
    Candidate,
    HybridWeights,
    Ranked,
    Strategy,
    rank_by_profile,
    rank_cold_start,
    rank_hybrid,
)
from app.settings import Settings
from app.vectors import FloatArray


def hybrid_weights(settings: Settings) -> HybridWeights:
    """The blend's weights from the settings."""
    return HybridWeights(
        collaborative=settings.hybrid_collaborative_weight,
        content=settings.hybrid_content_weight,
        popularity=settings.hybrid_popularity_weight,
    )


def needs_content(hybrid: HybridPool) -> bool:
    """Whether the list needs the taste profile and the content candidates beyond the model's."""
    return not (hybrid.servable and hybrid.complete)


def rank_personal(
    profile: FloatArray | None,
    content: Sequence[Candidate],
    hybrid: HybridPool,
    settings: Settings,
    limit: int,
    diversity: float,
) -> Ranked | None:
    """The user's list by the rule above; None when only the catalogue-wide popular list can serve."""
    candidates = hybrid.candidates
    if hybrid.servable and not hybrid.complete:
        known = {c.id for c in candidates}
        candidates = [*candidates, *(c for c in content if c.id not in known)]
    if hybrid.servable and candidates:
        weights = hybrid_weights(settings)
        ranked = rank_hybrid(
            candidates,
            hybrid.collaborative,
            hybrid.best,
            limit,
            diversity,
            weights=weights,
            scale=settings.popularity_scale,
        )
        return Ranked(ranked, Strategy.HYBRID, weights)
    if profile is not None:
        weight, scale = settings.popularity_weight, settings.popularity_scale
        ranked = rank_by_profile(content, limit, diversity, weight=weight, scale=scale)
        return Ranked(
            ranked, Strategy.CONTENT_PROFILE, HybridWeights(collaborative=0.0, content=1 - weight, popularity=weight)
        )
    if hybrid.model_id is not None and len(hybrid.candidates) >= limit:
        # The model's popular films (most rated when it was trained), minus what the user rated.
        popular = sorted(hybrid.candidates, key=lambda c: (-c.movie["rating_count"], c.id))
        return Ranked(
            rank_cold_start(popular, limit, diversity, scale=settings.popularity_scale), Strategy.COLD_START_POPULAR
        )
    return None
