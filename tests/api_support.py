"""Helpers for API tests: a demo database embedded by the real model, a client, tokens, query counts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from starlette.testclient import TestClient

from app.auth import mint_token
from app.catalogue.importers.demo import import_demo
from app.db.connections import connect, init_connection, with_database
from app.db.migrate import migrate
from app.embeddings.model import SentenceTransformerEmbedder
from app.embeddings.pipeline import embed_movies
from app.queue.redis_server import stop_embedded_redis
from app.search.index import ensure_index
from app.server import create_app, settings_pool
from app.settings import Settings
from tests.databases import create_database, drop_database

SECRET = "test-secret-for-movierec-api-tests-0123456789"
TEMPLATE = "demo_template"


def build_demo_template(server_uri: str, model: SentenceTransformerEmbedder) -> None:
    """A database with the demo catalogue embedded by the real model and an HNSW index."""

    async def build() -> None:
        await drop_database(server_uri, TEMPLATE)
        await create_database(server_uri, TEMPLATE)
        conn = await connect(with_database(server_uri, TEMPLATE), vector=False)
        await migrate(conn, model.dimension)
        await init_connection(conn)
        await import_demo(conn)
        await embed_movies(conn, model)
        await ensure_index(conn, Settings())
        await conn.close()

    asyncio.run(build())


@dataclass
class Api:
    """A running app, its database URL and the SQL each request ran."""

    client: TestClient
    database_url: str
    queries: list[str] = field(default_factory=list)

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        user: int | None = None,
        admin: bool = False,
        token: str | None = None,
    ) -> dict[str, Any]:
        """POST a GraphQL operation; returns the JSON body."""
        headers = {}
        if user is not None:
            token = mint_token(SECRET, user, admin=admin, ttl=timedelta(minutes=5))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        # Sent as ASCII JSON (\uXXXX escapes), as browsers may: a lone surrogate survives the trip.
        payload = json.dumps({"query": query, "variables": variables or {}})
        headers["Content-Type"] = "application/json"
        response = self.client.post("/graphql", content=payload, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None, **auth: Any) -> dict[str, Any]:
        """The data of an operation that must succeed."""
        body = self.gql(query, variables, **auth)
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def error_code(self, query: str, variables: dict[str, Any] | None = None, **auth: Any) -> str:
        """The extensions.code of an operation that must fail."""
        body = self.gql(query, variables, **auth)
        assert body.get("errors"), body
        return str(body["errors"][0]["extensions"]["code"])

    def count_queries(self, query: str, variables: dict[str, Any] | None = None, **auth: Any) -> int:
        """How many SQL statements one operation ran, once asyncpg's per-connection caches are warm.

        The API's pool sends no reset statement on release (app.server.settings_pool).
        """
        self.data(query, variables, **auth)
        self.queries.clear()
        self.data(query, variables, **auth)
        return len(self.queries)

    @property
    def pgvector(self) -> bool:
        """Whether the app's database has pgvector (the suite also runs on a PostgreSQL without it)."""
        return bool(self.sql("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")[0][0])

    def vectors_written(self) -> None:
        """After writing vectors by hand: without pgvector, give the API's in-process copy its second to follow."""
        if not self.pgvector:
            time.sleep(1.5)

    def sql(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        """Run SQL against the test database from outside the app."""

        async def run() -> list[asyncpg.Record]:
            conn = await connect(self.database_url)
            try:
                return list(await conn.fetch(statement, *args))
            finally:
                await conn.close()

        return asyncio.run(run())


def running_api(
    database_url: str, model: SentenceTransformerEmbedder, data_dir: Any, **overrides: Any
) -> Iterator[Api]:
    """Start the app (lifespan and all) against `database_url`, counting SQL per request."""
    api = Api(client=None, database_url=database_url)  # type: ignore[arg-type]

    async def counting_pool(dsn: str, settings: Settings) -> asyncpg.Pool:
        async def init(conn: asyncpg.Connection) -> None:
            await init_connection(conn)
            conn.add_query_logger(lambda logged: api.queries.append(logged.query))

        return await settings_pool(dsn, settings, init=init)  # the API's own pool, counted

    settings = Settings(database_url=database_url, data_dir=data_dir, jwt_secret=SECRET, **overrides)
    app = create_app(settings, pool_factory=counting_pool, embedder=model)
    try:
        with TestClient(app) as client:
            api.client = client
            yield api
    finally:
        # An operation that nudged the queue started an embedded redis-server; do not leave it running.
        stop_embedded_redis(Path(data_dir) / "redis")
