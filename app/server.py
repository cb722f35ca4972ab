"""The Starlette application: a typed lifespan (pool, model, services), GraphQL, health and SDL routes."""

from __future__ import annotations

import contextlib
import gc
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypedDict

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import load_secret
from app.db.connections import create_pool, init_connection, resolve_database_url
from app.db.migrate import check_dimension, pending_migrations
from app.db.replicas import ReadRouter, Replica, WriteMarks, replica_name
from app.embeddings.encoders import Encoders, ModelNotLoadable, query_settings
from app.embeddings.generations import active_generation
from app.embeddings.model import Embedder
from app.pages import graphiql_page, page_routes
from app.queue.redis_server import resolve_redis_url
from app.search.session import session_settings
from app.services import Services, build_services
from app.settings import Settings, get_settings
from app.transport import InFlightLimit, JsonErrors

log = logging.getLogger(__name__)

# graphql-core's "Did you mean 'title'?" names fields and types: a schema leak where introspection is off.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class State(TypedDict):
    """What the lifespan hands every request."""

    services: Services
    pool: asyncpg.Pool


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {
                "errors": [
                    {
                        "message": f"request body over {self.max_bytes} bytes",
                        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                    }
                ]
            },
            status_code=413,
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


async def healthz(request: Request) -> Response:
    """Alive: the process answers."""
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Ready: the database answers and the vectors' column fits the active generation.

    A degraded k-NN path (no pgvector, or its index missing or failing) still serves: it is reported
    with its fix, and the status stays 200 so a load balancer keeps the process.
    """
    pool: asyncpg.Pool = request.state.pool
    fallback = request.state.services.status.fallback
    problems: list[str] = []
    try:
        async with pool.acquire(timeout=2) as conn:
            await check_dimension(conn)
    except (TimeoutError, OSError, asyncpg.PostgresError, RuntimeError) as error:
        problems.append(str(error) or type(error).__name__)
    if problems:
        return JSONResponse({"ready": False, "problems": problems}, status_code=503)
    body: dict[str, Any] = {"ready": True, "vectorSearch": fallback.mode if fallback else "pgvector"}
    if fallback is not None and fallback.cause is not None:
        body["degraded"] = {"cause": fallback.cause, "fix": fallback.fix}
    replicas = await request.state.services.status.reads.lags()
    if replicas:
        body["replicas"] = replicas
    return JSONResponse(body)


PoolFactory = Callable[[str, Settings], Awaitable[asyncpg.Pool]]


async def read_router(settings: Settings, primary: asyncpg.Pool) -> ReadRouter:
    """Pools for DATABASE_REPLICA_URLS (opened lazily: a replica that is down does not stop the API)."""
    replicas = []
    for url in settings.replica_urls:
        pool = await create_pool(
            url,
            min_size=0,
            max_size=settings.pool_size,
            statement_timeout=settings.statement_timeout_s,
            acquire_timeout=settings.pool_acquire_timeout_s,
            server_settings=session_settings(settings),
            reset_session=False,  # as the primary's pool (settings_pool)
        )
        replicas.append(Replica(replica_name(url), pool))
    redis_url = resolve_redis_url(settings) if replicas else None
    return ReadRouter(primary, replicas, WriteMarks(redis_url))


async def settings_pool(
    dsn: str, settings: Settings, *, init: Callable[[asyncpg.Connection], Awaitable[None]] = init_connection
) -> asyncpg.Pool:
    """The API's pool: its size and timeouts from the settings, the search settings on each connection.

    Requests leave no session state (their settings are SET LOCAL, locks are the worker's and the
    CLI's), so a released connection is not reset: one round trip less per request.
    """
    return await create_pool(
        dsn,
        max_size=settings.pool_size,
        statement_timeout=settings.statement_timeout_s,
        acquire_timeout=settings.pool_acquire_timeout_s,
        init=init,
        server_settings=session_settings(settings),
        reset_session=False,
    )


def create_app(
    settings: Settings | None = None,
    *,
    pool_factory: PoolFactory | None = None,
    embedder: Embedder | None = None,
    load_model: bool = True,
) -> Starlette:
    """The API. Tests may pass a pool factory (run inside the lifespan) and an embedder."""
    from cross_web import HTTPException
    from strawberry.asgi import GraphQL  # the app factory is the one place app/ mounts the schema

    from schema import build_schema
    from schema.context import build_context

    settings = settings or get_settings()
    production = settings.env == "production"
    schema = build_schema(production=production)
    sdl = schema.as_str() + "\n"

    class MovierecGraphQL(GraphQL[Any, None]):
        async def get_context(self, request: Any, response: Any) -> Any:
            return build_context(request, request.state.services)

        async def process_result(self, request: Any, result: Any) -> Any:
            # Parse errors never reach the schema extensions; give every error a stable code here.
            response = await super().process_result(request, result)
            errors: list[dict[str, Any]] = list(response.get("errors") or [])  # type: ignore[arg-type]
            for error in errors:
                code = (
                    "GRAPHQL_PARSE_FAILED"
                    if error["message"].startswith("Syntax Error")
                    else "GRAPHQL_VALIDATION_FAILED"
                )
                error.setdefault("extensions", {}).setdefault("code", code)
                if production:  # no hints about the schema where introspection is off
                    error["message"] = _SUGGESTION.sub("", error["message"])
            return response

        def encode_json(self, data: object) -> bytes:
            return orjson.dumps(data)  # about 5x the standard library's speed on a list of 100 movies

        def parse_json(self, data: str | bytes) -> Any:
            # A body that is JSON but not an object ("hello", 42, null) or not UTF-8 is the caller's error.
            try:
                parsed = super().parse_json(data)
            except UnicodeDecodeError:
                raise HTTPException(400, "the request body is not UTF-8") from None
            if not isinstance(parsed, dict | list):
                raise HTTPException(400, "the request body must be a JSON object")
            return parsed

        async def render_graphql_ide(self, request: Any) -> Any:
            return graphiql_page()  # ours: its scripts come from this server, not a CDN

    graphql_app = MovierecGraphQL(schema, graphql_ide=None if production else "graphiql")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        make_pool = pool_factory or settings_pool
        dsn = await resolve_database_url(settings)
        active = await make_pool(dsn, settings)
        try:
            async with active.acquire() as conn:
                if await pending_migrations(conn):
                    raise RuntimeError("the database schema is not up to date: run `movierec migrate`")
                await check_dimension(conn)
                generation = await active_generation(conn)
            # Queries are encoded by the model that made the served vectors, whatever MOVIEREC_MODEL says
            # now: during a model change that is the active generation's (app/embeddings/generations.py).
            encoders = None
            if embedder is not None or load_model:
                encoders = Encoders(query_settings(settings), *([embedder] if embedder is not None else []))
                try:
                    await encoders.load(generation)
                except ModelNotLoadable as error:
                    log.warning("%s: searching words and titles only", error)
            reads = await read_router(settings, active)
            services = await build_services(settings, active, encoders, load_secret(settings), dsn=dsn, reads=reads)
            # torch and transformers leave millions of long-lived objects; without this every
            # full collection walks them all and stalls requests for 100+ ms.
            gc.collect()
            gc.freeze()
            try:
                yield {"services": services, "pool": active}
            finally:
                await services.close()
        finally:
            await active.close()

    async def schema_sdl(request: Request) -> Response:
        return PlainTextResponse(sdl, media_type="text/plain; charset=utf-8")

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *([] if production else [Route("/graphql/schema.graphql", schema_sdl)]),
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        *page_routes(graphiql=not production),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight)
    app.add_middleware(JsonErrors)
    return app
