"""Hybrid search maths, free of I/O: each retriever's ranking, and reciprocal rank fusion across them.

Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009) scores a film by the sum of
1 / (k + rank) over the retrievers that found it: it needs no calibration between a cosine, a
full-text rank and a trigram similarity, and a film two retrievers agree on beats one that only
one of them ranks high. An exact title match is put first whatever the fusion says.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The constant of the original paper; smaller values let a retriever's top hit dominate.
RRF_K = 60
# How much a film people know outweighs an obscure one: a notability prior in [0, 1] (ratings and
# votes, saturating at PRIOR_SATURATION) times a weight per retriever, added to the retriever's own
# score before it ranks. Trigram similarities are close together ("Titanic" matches three films
# exactly), so the prior weighs most there; for meaning it only breaks near-ties. The values were
# chosen on the labelled query set (docs/evaluation.md).
PRIOR_SATURATION = 300
PRIOR_WEIGHTS = {"semantic": 0.16, "keyword": 0.2, "title": 0.2}
# A retriever's votes count more when the query is evidently its kind: a title (a trigram match this
# close) or a person's name (matches in directors and casts). Meaning stays at 1. For a title query
# the title retriever's ranks also fall off faster (a smaller k): its best match leads unless the
# others agree on another film ("The Godfater" is The Godfather, not The Godson).
TITLE_QUERY_SIMILARITY = 0.5
TITLE_QUERY_WEIGHT = 3.0
TITLE_QUERY_RRF_K = 5
NAME_QUERY_WEIGHT = 2.0
# Weaker title matches are noise ("gritty mafia crime saga" is 0.3 similar to some title).
TITLE_MIN_SIMILARITY = 0.45


class SearchMode(enum.Enum):
    """Which retrievers a search runs."""

    HYBRID = "hybrid"
    KEYWORD = "keyword"
    SEMANTIC = "semantic"


class Retriever(enum.Enum):
    """What found a film."""

    TITLE = "title"  # its title: trigram similarity (typos) or title words
    PEOPLE = "people"  # its director or cast
    TEXT = "text"  # words of its keywords, genres or overview
    MEANING = "meaning"  # the embedding of its text or of one of its passages


@dataclass(frozen=True)
class RetrieverHit:
    """One film as one retriever found it (raw score before ranking)."""

    movie_id: int
    source: str  # "semantic", "keyword" or "title"
    score: float
    votes: int = 0  # ratings plus catalogue votes: the notability prior's input
    exact_title: bool = False
    in_title: bool = False
    in_people: bool = False


@dataclass(frozen=True)
class SearchHit:
    """A fused result: the film, its score, what found it, and its semantic similarity when known."""

    movie_id: int
    score: float
    matched_by: tuple[Retriever, ...]
    exact_title: bool = False
    similarity: float | None = None


def notability(votes: int) -> float:
    """The prior in [0, 1]: log of the vote count, saturating at PRIOR_SATURATION."""
    return min(1.0, math.log1p(max(votes, 0)) / math.log1p(PRIOR_SATURATION))


def rank_source(hits: Iterable[RetrieverHit]) -> list[RetrieverHit]:
    """One retriever's hits best first: its score plus its weighted prior, ties by id."""
    return sorted(hits, key=lambda h: (-(h.score + PRIOR_WEIGHTS.get(h.source, 0.0) * notability(h.votes)), h.movie_id))


def source_weights(hits: Sequence[RetrieverHit]) -> dict[str, float]:
    """How much each retriever's ranks count for this query (see TITLE_QUERY_WEIGHT, NAME_QUERY_WEIGHT)."""
    weights = {"semantic": 1.0, "keyword": 1.0, "title": 1.0}
    if any(h.source == "title" and h.score >= TITLE_QUERY_SIMILARITY for h in hits):
        weights["title"] = TITLE_QUERY_WEIGHT
    if any(h.source == "keyword" and h.in_people for h in hits):
        weights["keyword"] = NAME_QUERY_WEIGHT
    return weights


# What found a film, as bits while fusing (hashing enum members per hit was most of fusion's time).
_BIT = {retriever: 1 << i for i, retriever in enumerate(Retriever)}
_MATCHED_BY = [tuple(r for r in Retriever if mask & _BIT[r]) for mask in range(1 << len(Retriever))]
_TITLE, _PEOPLE, _TEXT, _MEANING = (
    _BIT[Retriever.TITLE],
    _BIT[Retriever.PEOPLE],
    _BIT[Retriever.TEXT],
    _BIT[Retriever.MEANING],
)


def _badges(hit: RetrieverHit) -> int:
    if hit.source == "semantic":
        return _MEANING
    if hit.source == "title":
        return _TITLE
    return ((_TITLE if hit.in_title else 0) | (_PEOPLE if hit.in_people else 0)) or _TEXT


def fuse(hits: Sequence[RetrieverHit], k: int = RRF_K) -> list[SearchHit]:
    """Weighted reciprocal rank fusion of every retriever's hits; exact title matches first."""
    weights = source_weights(hits)
    title_query = weights["title"] > 1.0
    scores: dict[int, float] = {}
    badges: dict[int, int] = {}
    exact: set[int] = set()
    similarity: dict[int, float] = {}
    for source in sorted({h.source for h in hits}):
        sharpness = TITLE_QUERY_RRF_K if source == "title" and title_query else k
        weight = weights.get(source, 1.0)
        for rank, hit in enumerate(rank_source(h for h in hits if h.source == source), start=1):
            scores[hit.movie_id] = scores.get(hit.movie_id, 0.0) + weight / (sharpness + rank)
            badges[hit.movie_id] = badges.get(hit.movie_id, 0) | _badges(hit)
            if hit.exact_title:
                exact.add(hit.movie_id)
            if source == "semantic":
                similarity[hit.movie_id] = hit.score
    order = sorted(scores, key=lambda m: (m not in exact, -scores[m], m))
    return [
        SearchHit(
            movie_id=m,
            score=scores[m],
            matched_by=_MATCHED_BY[badges[m]],
            exact_title=m in exact,
            similarity=similarity.get(m),
        )
        for m in order
    ]


# Words that say "a film" rather than which film: in a keyword query they only exclude films whose
# text happens not to use them ("movies starring Tom Hanks").
QUERY_NOISE = frozenset(
    ["film", "films", "movie", "movies", "starring", "directed", "director", "directors", "featuring"]
)


def keyword_query(text: str) -> str:
    """The search text for full-text matching, without words that only say "a film"."""
    words = [w for w in text.split() if w.lower().strip(".,!?;:\"'") not in QUERY_NOISE]
    return " ".join(words) or text
