"""The baselines for bench/api.py: bare Starlette JSON routes running similarMovies' SQL with raw asyncpg.

The one-statement routes run the statement the API runs for `similarMovies(movieId, limit)`: thin
records left out (the API's default), one row more than the page (whether more follow), the plain form
PostgreSQL plans once per connection (app/search/vectors.py); they answer the same films.

/similar-plain: one statement on a connection opened with the search settings (the baseline);
/similar-bare: the same on a pool that sends no reset statement when a connection is released (as the API's);
/similar: BEGIN + SET LOCAL, the parameterised statement (planned on every call), COMMIT: what the API did before.

uvicorn bench.raw_app:app --port 8101   (DATABASE_URL must be set)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
from pgvector.asyncpg import register_vector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.search import vectors as sql
from app.search.filters import NO_FILTER
from app.search.session import session_settings
from app.settings import Settings

QUERY = sql.NEAREST[("cosine", sql.MOVIE_VECTOR, False, True, True)]
FILTER = replace(NO_FILTER, exclude_thin=True).params()


def plain_query(limit: int) -> str:
    """The statement the API runs for a page of `limit` (one row more): the plain form, planned once."""
    tier = sql.plain_limit(limit + 1)
    if tier is None:
        raise ValueError(f"limit {limit} is past the plain form's tiers")
    return sql.plain_nearest_sql("cosine", sql.MOVIE_VECTOR, True, False, tier, vectors=False)


BEGIN = (
    f"BEGIN READ ONLY; SET LOCAL hnsw.ef_search = {Settings().hnsw_ef_search};"
    " SET LOCAL hnsw.iterative_scan = strict_order"
)


async def similar(request: Request) -> JSONResponse:
    """The same statements similarMovies runs, with nothing else around them."""
    body = await request.json()
    movie_id, limit = int(body["movieId"]), int(body.get("limit", 10))
    async with request.app.state.pool.acquire() as conn:
        await conn.execute(BEGIN)
        rows = await conn.fetch(QUERY, movie_id, *FILTER, [movie_id], None, limit + 1)
        await conn.execute("COMMIT")
    items = [
        {"rank": i, "similarity": 1 - r["distance"], "movie": {"id": r["id"], "title": r["title"], "year": r["year"]}}
        for i, r in enumerate(rows[:limit], start=1)
    ]
    return JSONResponse({"items": items})


async def _one_statement(request: Request, pool: asyncpg.Pool) -> JSONResponse:
    body = await request.json()
    movie_id, limit = int(body["movieId"]), int(body.get("limit", 10))
    async with pool.acquire() as conn:
        rows = await conn.fetch(plain_query(limit), movie_id, [movie_id])
    items = [
        {"rank": i, "similarity": 1 - r["distance"], "movie": {"id": r["id"], "title": r["title"], "year": r["year"]}}
        for i, r in enumerate(rows[:limit], start=1)
    ]
    return JSONResponse({"items": items})


async def similar_plain(request: Request) -> JSONResponse:
    """The one statement, on a connection that carries the search settings."""
    return await _one_statement(request, request.app.state.plain_pool)


async def similar_bare(request: Request) -> JSONResponse:
    """The one statement, on a pool that does not reset a released connection (one round trip less)."""
    return await _one_statement(request, request.app.state.bare_pool)


async def _no_reset(conn: asyncpg.Connection) -> None:
    """asyncpg still rolls back an open transaction; nothing else."""


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    dsn = os.environ["DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(dsn, min_size=4, max_size=10, init=register_vector)
    app.state.plain_pool = await asyncpg.create_pool(
        dsn, min_size=4, max_size=10, init=register_vector, server_settings=session_settings(Settings())
    )
    app.state.bare_pool = await asyncpg.create_pool(
        dsn,
        min_size=4,
        max_size=10,
        init=register_vector,
        server_settings=session_settings(Settings()),
        reset=_no_reset,
    )
    yield
    for pool in (app.state.pool, app.state.plain_pool, app.state.bare_pool):
        await pool.close()


app = Starlette(
    routes=[
        Route("/similar", similar, methods=["POST"]),
        Route("/similar-plain", similar_plain, methods=["POST"]),
        Route("/similar-bare", similar_bare, methods=["POST"]),
    ],
    lifespan=lifespan,
)
