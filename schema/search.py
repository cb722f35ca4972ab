"""GraphQL types for hybrid search results and genre facets."""

from __future__ import annotations

import strawberry

from app.search.fusion import Retriever
from app.search.fusion import SearchMode as SearchModeModel
from app.search.service import SearchPage
from schema.types import Movie

SearchMode = strawberry.enum(
    SearchModeModel,
    name="SearchMode",
    description="HYBRID: meaning, words and title typos fused; KEYWORD: words and titles only; SEMANTIC: meaning only.",
)

MatchedBy = strawberry.enum(
    Retriever,
    name="MatchedBy",
    description="What found a hit: TITLE (its title, typos included), PEOPLE (its director or cast), "
    "TEXT (words of its keywords, genres or overview), MEANING (the embedding of its text or one of its sentences).",
)


@strawberry.type(description="A search hit: the movie, its fused score and what found it.")
class SearchHit:
    movie: Movie
    rank: int
    score: float = strawberry.field(description="Reciprocal rank fusion score (higher is better).")
    similarity: float | None = strawberry.field(
        description="Cosine similarity of the query to the film or its best sentence; "
        "null when meaning did not find it."
    )
    matched_by: list[MatchedBy]  # type: ignore[valid-type]
    exact_title: bool = strawberry.field(description="The query is the film's title: such hits come first.")


@strawberry.type(description="A page of search results.")
class SearchResults:
    mode: SearchMode  # type: ignore[valid-type]
    used_meaning: bool = strawberry.field(
        description="Whether the semantic retriever took part (HYBRID without the model searches words only)."
    )
    offset: int
    has_more: bool
    items: list[SearchHit]

    @classmethod
    def of(cls, page: SearchPage, offset: int) -> SearchResults:
        """A page from the search service as its GraphQL type."""
        return cls(
            mode=page.mode,
            used_meaning=page.semantic,
            offset=offset,
            has_more=page.has_more,
            items=[
                SearchHit(
                    movie=Movie.from_row(r.movie),
                    rank=offset + position,
                    score=r.hit.score,
                    similarity=r.hit.similarity,
                    matched_by=list(r.hit.matched_by),
                    exact_title=r.hit.exact_title,
                )
                for position, r in enumerate(page.results, start=1)
            ],
        )


@strawberry.type(description="A genre and how many films have it.")
class Genre:
    name: str
    movies: int
