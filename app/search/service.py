"""Search as the API serves it (and `movierec evaluate-search` measures it): retrieve, fuse, page."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg

from app.catalogue.movies import load_movies_by_ids
from app.embeddings.encoders import QueryEncoder
from app.errors import MAX_OFFSET, BadUserInput, Unavailable, check_page
from app.search.fallback import VectorFallback, pgvector_or_in_process
from app.search.filters import NO_FILTER, MovieFilter
from app.search.fusion import RetrieverHit, SearchHit, SearchMode, fuse, keyword_query
from app.search.hybrid import semantic_hits, semantic_hits_in_memory, word_hits
from app.search.vectors import VectorSearch
from app.settings import Settings
from app.vectors import FloatArray

MAX_QUERY = 1_000
# Films each retriever returns, by how deep the page reaches. The first tier stays within HNSW's
# ef_search (80), where a k-NN read is one pass; past it pgvector's iterative scan costs several
# times more. Pages within one tier rank the same pool, so they follow each other exactly; a page
# that crosses into the next tier ranks a larger pool, where a film may move by a place or two.
POOL_TIERS = (40, 120, MAX_OFFSET + 101)


def pool_for(offset: int, limit: int) -> int:
    """How many films each retriever returns for this page."""
    return next(tier for tier in POOL_TIERS if offset + limit < tier)


@dataclass(frozen=True)
class SearchResult:
    """A fused hit with its movie row."""

    hit: SearchHit
    movie: dict[str, Any]


@dataclass(frozen=True)
class SearchPage:
    """One page of results, whether more follow, and whether meaning took part."""

    results: list[SearchResult]
    has_more: bool
    mode: SearchMode
    semantic: bool


def check_query(text: str) -> str:
    """The stripped search text; empty or over-long texts are the caller's error."""
    query = text.strip()
    if not query:
        raise BadUserInput("the search text is empty")
    if len(query) > MAX_QUERY:
        raise BadUserInput(f"the search text is longer than {MAX_QUERY:,} characters")
    return query


class Search:
    """Hybrid search over the catalogue: meaning, words and title trigrams, fused."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, vectors: VectorSearch, encoder: QueryEncoder) -> None:
        self.pool, self.settings, self.vectors, self.encoder = pool, settings, vectors, encoder

    async def search(
        self,
        text: str,
        *,
        mode: SearchMode = SearchMode.HYBRID,
        limit: int = 10,
        offset: int = 0,
        movie_filter: MovieFilter = NO_FILTER,
        include_thin: bool = False,
    ) -> SearchPage:
        """A page of fused results; HYBRID without the model loaded searches words and titles only."""
        query = check_query(text)
        check_page(limit, offset)
        # The model that made the served vectors (it follows a generation switch).
        embedder = await self.encoder.current() if mode is not SearchMode.KEYWORD else None
        semantic = embedder is not None
        if mode is SearchMode.SEMANTIC and not semantic:
            raise Unavailable("semantic search needs the embedding model, which is not loaded")
        # The text is encoded in a thread while the word retrievers run: neither waits for the other.
        encoding = asyncio.ensure_future(self.encoder.encode(embedder, query)) if embedder else None
        pool = pool_for(offset, limit)
        try:
            async with self.pool.acquire() as conn:
                async with self.vectors.transaction(conn):  # the index's search settings, if not on the connection
                    hits = []
                    if mode is not SearchMode.SEMANTIC:
                        hits += await word_hits(conn, query, keyword_query(query), pool=pool, movie_filter=movie_filter)
                    if encoding is not None:
                        hits += await self._meaning(conn, query, await encoding, pool, movie_filter, include_thin)
                fused = fuse(hits)
                page = fused[offset : offset + limit]
                movies = await load_movies_by_ids(conn, [h.movie_id for h in page])
        finally:
            if encoding is not None and not encoding.done():
                encoding.cancel()
        results = [SearchResult(hit, movie) for hit, movie in zip(page, movies, strict=True) if movie is not None]
        return SearchPage(results, has_more=len(fused) > offset + limit, mode=mode, semantic=semantic)

    async def _meaning(
        self,
        conn: asyncpg.Connection,
        query: str,
        vector: FloatArray,
        pool: int,
        movie_filter: MovieFilter,
        include_thin: bool,
    ) -> list[RetrieverHit]:
        """The meaning retriever; a vector of the wrong size (a generation switched meanwhile) is re-encoded once.

        Without pgvector, or while its path is degraded, the in-process vectors answer.
        """
        for attempt in range(2):

            async def in_process(fallback: VectorFallback, vector: FloatArray = vector) -> list[RetrieverHit]:
                return await semantic_hits_in_memory(
                    conn, fallback.memory, vector, pool=pool, movie_filter=movie_filter, include_thin=include_thin
                )

            on_pgvector = partial(
                semantic_hits,
                conn,
                self.settings.index_metric,
                vector,
                pool=pool,
                movie_filter=movie_filter,
                include_thin=include_thin,
            )
            try:
                return await pgvector_or_in_process(self.vectors.fallback, on_pgvector, in_process)
            except asyncpg.DataError as error:
                if attempt or "different vector dimensions" not in str(error) or conn.is_in_transaction():
                    raise
                embedder = await self.encoder.current(force=True)
                if embedder is None:
                    return []
                vector = await self.encoder.encode(embedder, query)
        return []


# A title lookup pages with cursors like the alphabetical list; a search cursor is an offset.
MAX_TITLE_LOOKUP = 200


def offset_cursor(offset: int) -> str:
    """The opaque cursor of a search position."""
    return base64.urlsafe_b64encode(json.dumps(["search", offset]).encode()).decode()


def offset_from_cursor(cursor: str | None) -> int:
    """The search position a cursor from `offset_cursor` names (0 for none)."""
    if cursor is None:
        return 0
    try:
        kind, offset = json.loads(base64.urlsafe_b64decode(cursor.encode()[:100]))
        if kind != "search" or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError
        return offset
    except (ValueError, TypeError):
        raise BadUserInput("after is not a cursor this API returned") from None
