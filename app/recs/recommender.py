"""Recommendations: similar movies, a user's taste profile, liked/disliked examples, text search, batches."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from app.errors import BadUserInput, NotFound, Unavailable, check_limit, check_page
from app.recs.explain import Explanation, explain
from app.recs.hybrid import load_hybrid_pools
from app.recs.personal import needs_content, rank_personal
from app.recs.popular import popular_movies
from app.recs.profiles import load_profiles
from app.recs.ranking import (
    Candidate,
    ExampleStrategy,
    Ranked,
    Strategy,
    average_query,
    mmr,
    page,
    rank_by_examples,
    rank_cold_start,
)
from app.recs.scoring import ServedModels
from app.search.filters import NO_FILTER, MovieFilter
from app.search.vectors import VectorSearch, pool_size
from app.settings import Settings
from app.vectors import as_array

MAX_EXAMPLES = 20
MAX_BATCH_USERS = 100

RATED_IDS_BY_USERS = """
SELECT user_id, array_agg(movie_id) AS movie_ids FROM ratings WHERE user_id = ANY($1::bigint[]) GROUP BY user_id
"""
# Embeddings of given movies (examples for recommendationsForMovies).
EMBEDDINGS_BY_IDS = "SELECT id, embedding FROM movies WHERE id = ANY($1::bigint[])"
MOVIE_HAS_EMBEDDING = "SELECT embedding IS NOT NULL FROM movies WHERE id = $1"


def check_diversity(diversity: float) -> float:
    """Diversity in [0, 1]."""
    if not 0.0 <= diversity <= 1.0 or diversity != diversity:
        raise BadUserInput(f"diversity must be between 0 and 1, got {diversity}")
    return diversity


class Recommender:
    """The recommendation operations, each a small, fixed number of SQL round trips."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, search: VectorSearch) -> None:
        self.pool, self.settings, self.search = pool, settings, search
        self.models = ServedModels()  # the serving model's weights, kept in this process

    def _cold_start(self, popular: list[Candidate], limit: int, diversity: float) -> list[Candidate]:
        return rank_cold_start(popular, limit, diversity, scale=self.settings.popularity_scale)

    async def similar_movies(
        self,
        movie_id: int,
        limit: int,
        *,
        diversity: float = 0.0,
        movie_filter: MovieFilter = NO_FILTER,
        unseen_by: int | None = None,
        offset: int = 0,
    ) -> Ranked:
        """Movies nearest to `movie_id`'s own vector; optionally leaving out what a user rated."""
        check_page(limit, offset)
        depth = offset + limit + 1  # one more than the page: whether more follow
        check_diversity(diversity)
        async with self.pool.acquire() as conn:
            candidates = await self.search.nearest(
                conn,
                movie_id,
                by_movie=True,
                movie_filter=movie_filter,
                exclude=[movie_id],
                unseen_by=unseen_by,
                limit=pool_size(depth) if diversity else depth,
                film_vectors=diversity > 0,  # only diversity compares the films' vectors
            )
            if not candidates:
                has_embedding = await conn.fetchval(MOVIE_HAS_EMBEDDING, movie_id)
                if has_embedding is None:
                    raise NotFound(f"movie {movie_id} does not exist")
                if not has_embedding:
                    raise Unavailable(f"movie {movie_id} has no embedding yet; run `movierec embed`")
        return page(Ranked(mmr(candidates, depth, diversity), Strategy.SIMILAR_TO_MOVIE), offset, limit)

    async def for_user(
        self,
        user_id: int,
        limit: int,
        *,
        diversity: float = 0.0,
        movie_filter: MovieFilter = NO_FILTER,
        offset: int = 0,
    ) -> Ranked:
        """Personal recommendations: the hybrid, content + popularity, or popular films (see app/recs/personal.py).

        Usually one query (the model's candidates with their similarity); the profile and the content
        k-NN only when the model offers too few films or there is no model.
        """
        check_page(limit, offset)
        depth = offset + limit + 1  # one more than the page: whether more follow
        check_diversity(diversity)
        pool = pool_size(depth)
        async with self.pool.acquire() as conn:
            hybrid = (
                await load_hybrid_pools(
                    conn, self.settings, [user_id], movie_filter, pool, models=self.models, film_vectors=diversity > 0
                )
            )[user_id]
            profile, content = None, []
            if needs_content(hybrid):
                profile = (await load_profiles(conn, [user_id], self.settings.like_threshold))[user_id]
                if profile is not None:
                    content = await self.search.nearest(
                        conn,
                        profile,
                        movie_filter=movie_filter,
                        unseen_by=user_id,
                        limit=pool,
                        film_vectors=diversity > 0,
                    )
            ranked = rank_personal(profile, content, hybrid, self.settings, depth, diversity)
            if ranked is None:
                popular = await popular_movies(
                    conn,
                    self.search.metric,
                    movie_filter=movie_filter,
                    unseen_by=user_id,
                    limit=pool if diversity else depth,
                    film_vectors=diversity > 0,
                )
                ranked = Ranked(self._cold_start(popular, depth, diversity), Strategy.COLD_START_POPULAR)
        return page(ranked, offset, limit)

    async def for_users(self, user_ids: Sequence[int], limit: int) -> dict[int, Ranked]:
        """Recommendations for many users: a fixed number of queries whatever the number of users."""
        check_limit(limit)
        if not 1 <= len(user_ids) <= MAX_BATCH_USERS:
            raise BadUserInput(f"give between 1 and {MAX_BATCH_USERS} user ids")
        users = list(dict.fromkeys(user_ids))
        pool = pool_size(limit)
        async with self.pool.acquire() as conn:
            hybrid = await load_hybrid_pools(conn, self.settings, users, NO_FILTER, pool, models=self.models)
            rest = [u for u in users if needs_content(hybrid[u])]
            profiles = await load_profiles(conn, rest, self.settings.like_threshold) if rest else {}
            warm = [u for u in rest if profiles[u] is not None]
            content = await self.search.nearest_many(
                conn, warm, [profiles[u] for u in warm], unseen_by_key=True, limit=pool, film_vectors=False
            )
            result = {
                u: rank_personal(profiles.get(u), content.get(u, []), hybrid[u], self.settings, limit, 0.0)
                for u in users
            }
            cold = [u for u, ranked in result.items() if ranked is None]
            popular: list[Candidate] = []
            seen: dict[int, set[int]] = {}
            if cold:
                rows = await conn.fetch(RATED_IDS_BY_USERS, cold)
                seen = {row["user_id"]: set(row["movie_ids"]) for row in rows}
                most_rated = max((len(ids) for ids in seen.values()), default=0)
                popular = await popular_movies(conn, self.search.metric, limit=limit + most_rated, film_vectors=False)
        lists: dict[int, Ranked] = {}
        for user, ranked in result.items():
            if ranked is None:
                unseen = [c for c in popular if c.id not in seen.get(user, set())]
                ranked = Ranked(self._cold_start(unseen, limit, 0.0), Strategy.COLD_START_POPULAR)
            lists[user] = ranked
        return lists

    async def for_examples(
        self,
        positive: Sequence[int],
        negative: Sequence[int],
        strategy: ExampleStrategy,
        limit: int,
        *,
        diversity: float = 0.0,
        movie_filter: MovieFilter = NO_FILTER,
        offset: int = 0,
    ) -> Ranked:
        """Movies like the liked examples and unlike the disliked ones; the examples never come back."""
        check_page(limit, offset)
        depth = offset + limit + 1  # one more than the page: whether more follow
        check_diversity(diversity)
        positive, negative = list(dict.fromkeys(positive)), list(dict.fromkeys(negative))
        if not positive:
            raise BadUserInput("give at least one liked (positive) movie")
        if len(positive) + len(negative) > MAX_EXAMPLES:
            raise BadUserInput(f"give at most {MAX_EXAMPLES} example movies in all")
        if set(positive) & set(negative):
            raise BadUserInput("a movie cannot be both liked and disliked")
        examples = positive + negative
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(EMBEDDINGS_BY_IDS, examples)
            vectors = {r["id"]: r["embedding"] for r in rows}
            missing = [i for i in examples if i not in vectors]
            if missing:
                raise NotFound(f"movies not found: {', '.join(map(str, missing))}")
            unembedded = [i for i in examples if vectors[i] is None]
            if unembedded:
                raise Unavailable(f"movies without embeddings yet: {', '.join(map(str, unembedded))}")
            pos = np.stack([as_array(vectors[i]) for i in positive]).astype(np.float32)
            neg = np.stack([as_array(vectors[i]) for i in negative]).astype(np.float32) if negative else pos[:0]
            pool = pool_size(depth)
            if strategy is ExampleStrategy.AVERAGE_VECTOR:
                candidates = await self.search.nearest(
                    conn, average_query(pos, neg), movie_filter=movie_filter, exclude=examples, limit=pool
                )
            else:
                per_example = await self.search.nearest_many(
                    conn, positive, list(pos), movie_filter=movie_filter, exclude=examples, limit=pool
                )
                unique = {c.id: c for group in per_example.values() for c in group}
                candidates = sorted(unique.values(), key=lambda c: c.id)
        ranked = Ranked(rank_by_examples(candidates, pos, neg, strategy, depth, diversity), Strategy.EXAMPLES)
        return page(ranked, offset, limit)

    async def explain(self, user_id: int, movie_id: int) -> Explanation:
        """Why `movie_id` suits the user: the rated movies it resembles and the parts of its score."""
        async with self.pool.acquire() as conn:
            return await explain(conn, self.settings, self.models, user_id, movie_id)
