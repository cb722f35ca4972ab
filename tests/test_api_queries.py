"""SQL behind the API: bounded round trips (no N+1), the index really used, settings kept local."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest

from app.db.connections import connect
from app.recs.popular import popular_movies
from app.search import vectors as sql
from app.search.filters import NO_FILTER, MovieFilter
from app.search.hybrid import semantic_hits, unfiltered_semantic_hits_sql
from app.search.vectors import VectorSearch, pool_size
from app.settings import Settings
from tests.api_support import Api

pytestmark = pytest.mark.model


def test_round_trips_do_not_grow_with_the_limit_or_the_batch(api: Api) -> None:
    similar = '{ similarMovies(movieId: "1", limit: %d) { items { movie { title } } } }'
    assert api.count_queries(similar % 3) == api.count_queries(similar % 60) <= 4
    recommend = "{ recommendations(limit: %d, diversity: 0.3) { items { movie { title } } } }"
    # profile, then BEGIN+SET LOCAL, k-NN, COMMIT, then the model's candidates; plus one exact-scan
    # retry when the catalogue has fewer unseen movies than the candidate pool (60 x 5 here).
    assert api.count_queries(recommend % 3, user=1) <= api.count_queries(recommend % 60, user=1) <= 6
    batch = "{ recommendationsForUsers(userIds: [%s], limit: 5) { userId items { movie { id } } } }"
    one = api.count_queries(batch % '"1"', user=9, admin=True)
    five = api.count_queries(batch % '"1", "2", "3", "4", "5"', user=9, admin=True)
    # profiles, BEGIN+k-NN+COMMIT, the model's candidates; without a model the cold-start user adds
    # two (their rated ids, the popular films), whatever the number of users.
    assert one <= five <= 7
    examples = (
        '{ recommendationsForMovies(positive: ["1", "2", "3"], strategy: BEST_SCORE, limit: 9) { items { rank } } }'
    )
    assert api.count_queries(examples) <= 5


def test_nested_lookups_are_batched(api: Api) -> None:
    query = "{ viewer { ratings { rating movie { title genres } } } }"
    few = api.count_queries(query, user=4)
    for movie_id in range(20, 40):
        api.data('mutation { rateMovie(movieId: "%d", rating: 3) { rating } }' % movie_id, user=4)
    many = api.count_queries(query, user=4)
    assert few == many <= 3  # user, ratings, movies: one query each


async def _plan(database_url: str, statement: str, *args: object, generic: bool = False) -> str:
    """The plan for these arguments; `generic`: the plan PostgreSQL would keep for any arguments."""
    conn = await connect(database_url)
    try:
        async with conn.transaction():
            # The demo catalogue is small enough that a sequential scan is cheaper; take it away to
            # see what the query *can* use.
            await conn.execute("SET LOCAL enable_seqscan = off")
            if generic:
                # A prepared statement's generic plan: planned before any argument is known.
                await conn.execute(f"PREPARE planned AS {statement}; SET LOCAL plan_cache_mode = force_generic_plan")
                rows = await conn.fetch(f"EXPLAIN EXECUTE planned({', '.join(['NULL'] * len(args))})")
            else:
                rows = await conn.fetch("EXPLAIN " + statement, *args)
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


@pytest.mark.pgvector
async def test_the_hnsw_index_serves_the_query_and_the_exact_form_does_not(demo_database_url: str) -> None:
    params = [*NO_FILTER.params(), [1], None, 10]
    by_movie = await _plan(demo_database_url, sql.NEAREST[("cosine", sql.MOVIE_VECTOR, False, False, True)], 1, *params)
    assert "Index Scan using movies_embedding_idx" in by_movie
    exact = await _plan(demo_database_url, sql.NEAREST[("cosine", sql.MOVIE_VECTOR, True, False, True)], 1, *params)
    assert "movies_embedding_idx" not in exact
    # similarMovies' default (thin records left out) says so in its text: every plan may use the
    # partial index over described films, a generic plan included.
    described = sql.NEAREST[("cosine", sql.MOVIE_VECTOR, False, True, True)]
    arguments = [1, *replace(NO_FILTER, exclude_thin=True).params(), [1], None, 10]
    for generic in (False, True):
        plan = await _plan(demo_database_url, described, *arguments, generic=generic)
        assert "Index Scan using movies_embedding_described_idx" in plan, plan


async def test_search_settings_stay_inside_the_transaction(demo_database_url: str) -> None:
    search = VectorSearch(Settings(hnsw_ef_search=123))
    conn = await connect(demo_database_url)
    try:
        async with search.transaction(conn):
            assert await conn.fetchval("SHOW hnsw.ef_search") == "123"
            assert await conn.fetchval("SHOW hnsw.iterative_scan") == "strict_order"
        assert await conn.fetchval("SHOW hnsw.ef_search") in {"", "40"}  # back to the default
        with pytest.raises(asyncpg.PostgresError):
            async with search.transaction(conn):
                await conn.execute("SELECT 1/0")
        assert not conn.is_in_transaction() and await conn.fetchval("SHOW hnsw.ef_search") in {"", "40"}
    finally:
        await conn.close()


def test_released_connections_hold_no_transaction_or_lock(api: Api) -> None:
    """The API's pool does not reset a released connection (a round trip saved): nothing may need it."""
    api.data('{ similarMovies(movieId: "1", limit: 5) { items { movie { title } } } }')
    api.data('{ searchMovies(query: "a thief in dreams", limit: 5) { items { movie { title } } } }')
    api.data("{ recommendations(limit: 5) { items { movie { title } } } }", user=1)
    api.data('{ explainRecommendation(movieId: "2") { text } }', user=1)
    api.data('mutation { rateMovie(movieId: "3", rating: 4.0) { rating } }', user=1)
    held = api.sql(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        "        AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()) AS open_transactions,"
        " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()) AS advisory_locks,"
        " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        "        AND backend_type = 'client backend' AND pid <> pg_backend_pid()) AS connections"
    )[0]
    assert held["connections"] >= 1  # the API's pooled connections are there, idle
    assert (held["open_transactions"], held["advisory_locks"]) == (0, 0)


def test_the_api_pool_carries_the_search_settings_so_reads_are_one_statement(api: Api) -> None:
    """HNSW's settings ride on the pooled connections: no BEGIN, SET LOCAL or COMMIT around a k-NN read."""
    similar = '{ similarMovies(movieId: "1", limit: 5) { items { movie { title } } } }'
    api.count_queries(similar)
    assert not [q for q in api.queries if q.startswith(("BEGIN", "COMMIT", "SET"))]
    assert api.count_queries(similar) == 1


async def test_the_popular_list_ranks_every_film_by_its_ratings_and_votes(demo_database_url: str) -> None:
    """The cold-start statement ranks narrow rows first: its page equals ranking every film outright."""
    conn = await connect(demo_database_url)
    try:
        scores = await conn.fetch(
            """SELECT m.id, m.genres, coalesce(p.rating_sum, 0) + coalesce(m.vote_count, 0)
                      * coalesce(m.vote_average, 0) / 100.0 AS score,
                      EXISTS (SELECT 1 FROM ratings x WHERE x.user_id = 1 AND x.movie_id = m.id) AS seen_by_1
               FROM movies m LEFT JOIN movie_rating_stats p ON p.movie_id = m.id WHERE m.embedding IS NOT NULL"""
        )
        ranked = sorted(scores, key=lambda r: (-r["score"], r["id"]))
        found = await popular_movies(conn, "cosine", limit=20)
        assert [c.id for c in found] == [r["id"] for r in ranked[:20]]
        drama = await popular_movies(conn, "cosine", movie_filter=MovieFilter(genres=("drama",)), unseen_by=1, limit=10)
        expected = [r["id"] for r in ranked if "Drama" in r["genres"] and not r["seen_by_1"]][:10]
        assert [c.id for c in drama] == expected and len(expected) == 10
        assert all(c.movie["title"] and c.vector is not None for c in drama)  # whole films, vectors included
    finally:
        await conn.close()


@pytest.mark.pgvector
async def test_an_unfiltered_meaning_search_is_planned_once_per_connection(demo_database_url: str) -> None:
    """With no filter, only the query vector is a parameter: PostgreSQL settles on one generic plan."""
    conn = await connect(demo_database_url)
    try:
        vector = await conn.fetchval("SELECT embedding FROM movies WHERE has_overview ORDER BY id LIMIT 1")
        answers = [
            await semantic_hits(conn, "cosine", vector, pool=40, movie_filter=NO_FILTER, include_thin=False)
            for _ in range(8)
        ]
        plans = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            unfiltered_semantic_hits_sql(40, False),
        )
        assert plans is not None and plans["generic_plans"] >= 2, plans
        assert answers[0] and all(a == answers[0] for a in answers), "the generic plan answers what custom ones did"
        # A filter's values change its plan: that search runs the statement with the filter's parameters.
        dramas = MovieFilter(genres=("Drama",))
        filtered = await semantic_hits(conn, "cosine", vector, pool=40, movie_filter=dramas, include_thin=False)
        assert filtered and {h.movie_id for h in filtered} <= await _dramas(conn)
    finally:
        await conn.close()


async def _dramas(conn: asyncpg.Connection) -> set[int]:
    rows = await conn.fetch("SELECT id FROM movies WHERE 'drama' = ANY(genre_keys)")
    return {r["id"] for r in rows}


def test_a_plain_list_fetches_the_smallest_tier_that_holds_it() -> None:
    assert [sql.plain_limit(n) for n in (1, 11, 12, 21, 50, 55, 105, 106, 505)] == [
        11,
        11,
        21,
        21,
        55,
        55,
        105,
        255,
        505,
    ]
    assert sql.plain_limit(pool_size(11)) == pool_size(11) and sql.plain_limit(pool_size(21)) == pool_size(21)
    assert sql.plain_limit(506) is None  # past the tiers: the parameterised statement
    assert MovieFilter(exclude_thin=True).narrows_only_to_described and NO_FILTER.narrows_only_to_described
    assert not MovieFilter(genres=("Drama",)).narrows_only_to_described
    assert not MovieFilter(exclude_ids=(1,)).narrows_only_to_described


@pytest.mark.pgvector
async def test_an_unfiltered_list_is_planned_once_and_answers_what_the_parameterised_statement_does(
    demo_database_url: str,
) -> None:
    conn = await connect(demo_database_url)
    search = VectorSearch(Settings())
    described = MovieFilter(exclude_thin=True)
    try:
        films = [r[0] for r in await conn.fetch("SELECT id FROM movies WHERE has_overview ORDER BY id LIMIT 8")]
        viewer = await conn.fetchval("SELECT user_id FROM ratings GROUP BY user_id ORDER BY count(*) DESC LIMIT 1")
        for film in films:
            for unseen_by, limit in ((None, 11), (viewer, 11), (None, 15)):
                served = await search.nearest(
                    conn, film, by_movie=True, movie_filter=described, exclude=[film], unseen_by=unseen_by, limit=limit
                )
                statement = sql.NEAREST[("cosine", sql.MOVIE_VECTOR, False, True, True)]
                async with search.transaction(conn):
                    rows = await conn.fetch(statement, film, *described.params(), [film], unseen_by, limit)
                assert [c.id for c in served] == [r["id"] for r in rows], (film, unseen_by, limit)
        plain = sql.plain_nearest_sql("cosine", sql.MOVIE_VECTOR, True, False, 11)
        plans = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", plain
        )
        assert plans is not None and plans["generic_plans"] >= 2, plans
    finally:
        await conn.close()
    plan = await _plan(demo_database_url, plain, 1, [1], generic=True)
    assert "Index Scan using movies_embedding_described_idx" in plan, plan


@pytest.mark.pgvector
async def test_a_list_without_diversity_reads_no_film_vectors_and_ranks_the_same(demo_database_url: str) -> None:
    conn = await connect(demo_database_url)
    search = VectorSearch(Settings())
    try:
        film = await conn.fetchval("SELECT id FROM movies WHERE has_overview ORDER BY id LIMIT 1")
        for movie_filter in (MovieFilter(exclude_thin=True), MovieFilter(exclude_thin=True, year_min=1990)):
            args = {"by_movie": True, "movie_filter": movie_filter, "exclude": [film], "limit": 11}
            with_vectors = await search.nearest(conn, film, **args)
            without = await search.nearest(conn, film, film_vectors=False, **args)
            assert [(c.id, c.similarity) for c in without] == [(c.id, c.similarity) for c in with_vectors]
            assert all(c.vector.size == 0 for c in without) and all(c.vector.size == 384 for c in with_vectors)
        # The batched k-NN and the cold-start list take the same switch.
        query = with_vectors[0].vector
        many = await search.nearest_many(conn, [1], [query], limit=11)
        many_without = await search.nearest_many(conn, [1], [query], limit=11, film_vectors=False)
        assert [c.id for c in many_without[1]] == [c.id for c in many[1]] and many[1]
        assert all(c.vector.size == 0 for c in many_without[1])
        popular = await popular_movies(conn, "cosine", limit=11)
        popular_without = await popular_movies(conn, "cosine", limit=11, film_vectors=False)
        assert [c.id for c in popular_without] == [c.id for c in popular] and popular
        assert all(c.vector.size == 0 for c in popular_without) and all(c.vector.size == 384 for c in popular)
    finally:
        await conn.close()
