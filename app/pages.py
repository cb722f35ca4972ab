"""What browsers get: the single-page app at /, its files, and GraphiQL served with no CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent / "web"
SPA_DIR = WEB_DIR / "spa"
GRAPHIQL_DIR = WEB_DIR / "graphiql"
NODE_MODULES = WEB_DIR / "node_modules"

# The files GraphiQL's page loads, by the name it asks for: ours, then npm's (app/web/package.json,
# installed by `make install`). A whitelist, so nothing else under node_modules is ever served.
GRAPHIQL_ASSETS: dict[str, Path] = {
    "graphiql-page.js": GRAPHIQL_DIR / "graphiql-page.js",
    "graphiql-page.css": GRAPHIQL_DIR / "graphiql-page.css",
    "react.production.min.js": NODE_MODULES / "react/umd/react.production.min.js",
    "react-dom.production.min.js": NODE_MODULES / "react-dom/umd/react-dom.production.min.js",
    "graphiql.min.js": NODE_MODULES / "graphiql/graphiql.min.js",
    "graphiql.min.css": NODE_MODULES / "graphiql/graphiql.min.css",
    "plugin-explorer.umd.js": NODE_MODULES / "@graphiql/plugin-explorer/dist/index.umd.js",
    "plugin-explorer.css": NODE_MODULES / "@graphiql/plugin-explorer/dist/style.css",
}

# Everything comes from this origin; inline styles only because React and GraphiQL set them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class RevalidatedStaticFiles(StaticFiles):
    """Static files browsers must revalidate (a cheap 304), so a new release never runs old modules."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def missing_graphiql_assets() -> list[str]:
    """The GraphiQL files that are not installed (npm never ran in app/web)."""
    return [name for name, path in GRAPHIQL_ASSETS.items() if not path.is_file()]


def graphiql_page() -> Response:
    """GraphiQL's HTML, or a 503 that says how to install its files."""
    missing = missing_graphiql_assets()
    if missing:
        message = (
            "<!doctype html><title>GraphiQL is not installed</title>"
            "<h1>GraphiQL's files are not installed</h1>"
            "<p>Run <code>make install</code> (it runs <code>npm ci</code> in app/web). "
            f"Missing: {', '.join(missing)}.</p>"
        )
        return HTMLResponse(message, status_code=503, headers=PAGE_HEADERS)
    return FileResponse(GRAPHIQL_DIR / "index.html", headers=PAGE_HEADERS)


async def graphiql_asset(request: Request) -> Response:
    """One of GraphiQL's whitelisted files; 404 for any other name."""
    path = GRAPHIQL_ASSETS.get(request.path_params["name"])
    if path is None or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


async def spa_index(request: Request) -> Response:
    """The single-page app's shell; its routes live after the # so every page loads this."""
    return FileResponse(SPA_DIR / "index.html", headers=PAGE_HEADERS)


def page_routes(*, graphiql: bool) -> list[BaseRoute]:
    """The SPA at / and /static; GraphiQL's assets too unless GraphiQL is off (production)."""
    routes: list[BaseRoute] = [
        Route("/", spa_index),
        Mount("/static", RevalidatedStaticFiles(directory=SPA_DIR), name="static"),
    ]
    if graphiql:
        routes.append(Route("/graphiql/assets/{name}", graphiql_asset))
    return routes
