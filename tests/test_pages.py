"""The browser-facing routes: the SPA shell and files, GraphiQL's page and its whitelisted assets."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from app import pages
from app.embeddings.model import SentenceTransformerEmbedder
from tests.api_support import Api, running_api

ROOT = Path(__file__).resolve().parents[1]
SPA_FILES = sorted(p for p in pages.SPA_DIR.rglob("*") if p.is_file())
# A URL with a scheme or a protocol-relative one, where a page would load it.
OTHER_ORIGIN = re.compile(
    r"""(?:src|href)\s*=\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//|from\s+["'](?:https?:)?//"""
)


def test_spa_shell_is_served_at_the_root_with_a_strict_policy(api: Api) -> None:
    response = api.client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/js/main.js">' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "connect-src 'self'" in policy


def test_every_spa_file_is_served_with_its_type(api: Api) -> None:
    types = {".js": "javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
    for path in SPA_FILES:
        response = api.client.get(f"/static/{path.relative_to(pages.SPA_DIR).as_posix()}")
        assert response.status_code == 200, path
        assert types[path.suffix] in response.headers["content-type"], path
        assert response.headers["cache-control"] == "no-cache"
        etag = response.headers["etag"]
        assert api.client.get(response.url, headers={"If-None-Match": etag}).status_code == 304
    assert api.client.get("/static/../pages.py").status_code == 404


def test_no_page_loads_anything_from_another_origin() -> None:
    ours = [*SPA_FILES, *pages.GRAPHIQL_DIR.iterdir()]
    installed = [p for p in pages.GRAPHIQL_ASSETS.values() if p.is_file() and p.suffix == ".css"]
    for path in ours + installed:
        text = path.read_text(encoding="utf-8")
        assert not OTHER_ORIGIN.search(text), f"{path} loads from another origin"


def test_graphiql_page_and_only_its_whitelisted_assets_are_served(api: Api) -> None:
    page = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "/graphiql/assets/graphiql-page.js" in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    for name in pages.GRAPHIQL_ASSETS:
        assert api.client.get(f"/graphiql/assets/{name}").status_code == 200, name
    for name in ("package.json", "..%2Fpackage.json", "react"):
        assert api.client.get(f"/graphiql/assets/{name}").status_code == 404, name


def test_graphiql_without_its_npm_files_says_how_to_install_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(pages.GRAPHIQL_ASSETS, "graphiql.min.js", tmp_path / "missing.js")
    response = pages.graphiql_page()
    assert response.status_code == 503
    assert b"make install" in response.body and b"graphiql.min.js" in response.body


def test_production_serves_the_spa_but_not_graphiql(
    demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    for api in running_api(demo_database_url, model, tmp_path, env="production"):
        assert api.client.get("/").status_code == 200
        assert api.client.get("/static/js/main.js").status_code == 200
        assert api.client.get("/graphiql/assets/graphiql.min.js").status_code == 404
        assert api.client.get("/graphql", headers={"Accept": "text/html"}).status_code in {400, 404}


def test_the_package_ships_every_web_file() -> None:
    """`pip install .` (the Docker image) must carry the SPA and GraphiQL's files."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["app"]
    app_dir = ROOT / "app"
    for path in [*SPA_FILES, *pages.GRAPHIQL_ASSETS.values()]:
        relative = path.relative_to(app_dir).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
