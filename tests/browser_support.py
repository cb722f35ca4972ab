"""Browser tests' machinery: the real app on a free localhost port, and headless Debian Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.embeddings.model import SentenceTransformerEmbedder
from app.queue.redis_server import stop_embedded_redis
from app.server import create_app
from app.settings import Settings
from tests.api_support import SECRET

CHROMIUM = os.environ.get("MOVIEREC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MOVIEREC_CHROMEDRIVER", "/usr/bin/chromedriver")
# Screenshots land here; CI keeps the folder as the run's artifacts.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


def require_chromium() -> None:
    """Skip without Chromium and its driver, unless MOVIEREC_REQUIRE_BROWSER=1 (make test sets it)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("MOVIEREC_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    """A localhost port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_server(
    database_url: str, model: SentenceTransformerEmbedder, data_dir: Path, **overrides: Any
) -> Iterator[str]:
    """The whole app served by uvicorn in a thread; yields its base URL."""
    settings = Settings(database_url=database_url, data_dir=data_dir, jwt_secret=SECRET, **overrides)
    port = free_port()
    config = uvicorn.Config(create_app(settings, embedder=model), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        stop_embedded_redis(data_dir / "redis")  # started if a request nudged the job queue


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium with a fresh profile, no background traffic, and no way off this machine.

    --host-resolver-rules makes every name but localhost unresolvable, so a page that needs the
    internet fails here just as it would offline; the performance log records every request.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="movierec-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-quic",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1360,960",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked for since the last call (the browser's own chrome:// pages left out)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return [url for url in urls if not url.startswith(("chrome://", "chrome-extension://", "data:", "blob:"))]


def console_errors(driver: Any) -> list[str]:
    """The page's console errors (CSP violations, exceptions, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any, name: str) -> Path:
    """Save a PNG of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
