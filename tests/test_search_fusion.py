"""Hybrid search maths: ranking within a retriever, weighted reciprocal rank fusion, badges, query words."""

from __future__ import annotations

import pytest

from app.embeddings.text import MovieContent, passages
from app.evaluation.metrics import recall_of_needed
from app.search.fusion import (
    NAME_QUERY_WEIGHT,
    PRIOR_SATURATION,
    RRF_K,
    TITLE_QUERY_WEIGHT,
    Retriever,
    RetrieverHit,
    fuse,
    keyword_query,
    notability,
    rank_source,
    source_weights,
)


def hit(movie: int, source: str, score: float, **extra: object) -> RetrieverHit:
    return RetrieverHit(movie_id=movie, source=source, score=score, **extra)  # type: ignore[arg-type]


def test_fusion_adds_reciprocal_ranks_across_retrievers() -> None:
    hits = [hit(1, "semantic", 0.9), hit(2, "semantic", 0.8), hit(2, "keyword", 0.5), hit(3, "keyword", 0.4)]
    fused = fuse(hits)
    assert [h.movie_id for h in fused] == [2, 1, 3]  # found by both beats first of one
    assert fused[0].score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert fused[1].score == pytest.approx(1 / (RRF_K + 1))
    assert fused[0].matched_by == (Retriever.TEXT, Retriever.MEANING)
    assert fused[0].similarity == 0.8 and fused[2].similarity is None


def test_an_exact_title_comes_first_whatever_the_scores() -> None:
    hits = [hit(1, "semantic", 0.9), hit(1, "keyword", 0.9), hit(2, "title", 0.2, exact_title=True)]
    fused = fuse(hits)
    assert fused[0].movie_id == 2 and fused[0].exact_title and fused[0].matched_by == (Retriever.TITLE,)


def test_badges_tell_title_people_and_text_matches_apart() -> None:
    hits = [hit(1, "keyword", 1, in_title=True), hit(2, "keyword", 1, in_people=True), hit(3, "keyword", 1)]
    badges = {h.movie_id: h.matched_by for h in fuse(hits)}
    assert badges == {1: (Retriever.TITLE,), 2: (Retriever.PEOPLE,), 3: (Retriever.TEXT,)}
    every = [hit(4, "semantic", 0.5), hit(4, "keyword", 1, in_title=True, in_people=True), hit(4, "title", 0.6)]
    assert fuse(every)[0].matched_by == (Retriever.TITLE, Retriever.PEOPLE, Retriever.MEANING)  # in enum order


def test_the_prior_breaks_near_ties_but_does_not_outvote_meaning() -> None:
    close = [hit(1, "semantic", 0.60), hit(2, "semantic", 0.59, votes=300)]
    assert [h.movie_id for h in rank_source(close)] == [2, 1]
    far = [hit(1, "semantic", 0.70), hit(2, "semantic", 0.50, votes=300)]
    assert [h.movie_id for h in rank_source(far)] == [1, 2]


def test_notability_is_a_saturating_log() -> None:
    assert notability(0) == 0 and notability(-3) == 0
    assert notability(PRIOR_SATURATION) == pytest.approx(1.0) and notability(10 * PRIOR_SATURATION) == 1.0
    assert 0 < notability(10) < notability(100) < 1


def test_queries_that_are_titles_or_names_weigh_those_retrievers_more() -> None:
    assert source_weights([hit(1, "title", 0.8)])["title"] == TITLE_QUERY_WEIGHT
    assert source_weights([hit(1, "title", 0.3)])["title"] == 1.0
    assert source_weights([hit(1, "keyword", 0.1, in_people=True)])["keyword"] == NAME_QUERY_WEIGHT
    assert source_weights([hit(1, "keyword", 0.1)]) == {"semantic": 1.0, "keyword": 1.0, "title": 1.0}


def test_keyword_queries_drop_words_that_only_say_film() -> None:
    assert keyword_query("movies starring Tom Hanks") == "Tom Hanks"
    assert keyword_query("films directed by Greta Gerwig") == "by Greta Gerwig"
    assert keyword_query("Star Wars") == "Star Wars"
    assert keyword_query("film") == "film"  # nothing left: the text as it was


def test_passages_are_the_overviews_sentences() -> None:
    movie = MovieContent(
        title="Inception",
        overview="Inception is a 2010 film by Christopher Nolan. It stars Leonardo DiCaprio as a thief. "
        "Short one. He steals secrets from people's dreams! Dr. Who? "
        + " ".join(f"Sentence {i} is here." for i in range(20)),
    )
    found = passages(movie)
    assert found[:3] == [
        "Inception is a 2010 film by Christopher Nolan.",
        "It stars Leonardo DiCaprio as a thief.",
        "He steals secrets from people's dreams!",
    ]
    assert len(found) == 8 and passages(MovieContent(title="Only a title")) == []


def test_recall_counts_against_the_films_needed() -> None:
    assert recall_of_needed([1, 2, 3], {2, 9}, 10, need=1) == 1.0
    assert recall_of_needed([1, 2, 3], {2, 9}, 10, need=2) == 0.5
    assert recall_of_needed([1, 2, 3], {3}, 2, need=1) == 0.0
