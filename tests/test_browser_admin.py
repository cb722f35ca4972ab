"""The admin console in headless Chromium: a refresh seen to its end, an edit re-embedded, bad edits refused,
and nothing of it for people without an admin token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from app.auth import mint_token
from app.embeddings.model import SentenceTransformerEmbedder
from app.settings import Settings
from tests.api_support import SECRET
from tests.browser_support import chromium, console_errors, live_server, require_chromium, screenshot
from tests.test_browser import wait
from tests.worker_support import run_burst_worker

pytestmark = pytest.mark.model


@pytest.fixture
def admin_app(
    demo_database_url: str, redis_url: str, model: SentenceTransformerEmbedder, tmp_path: Path
) -> Iterator[tuple[str, Settings]]:
    """The app with a real Redis, and the settings a worker for it needs."""
    require_chromium()
    data_dir = tmp_path / "movierec"
    settings = Settings(database_url=demo_database_url, redis_url=redis_url, data_dir=data_dir)
    with live_server(demo_database_url, model, data_dir, redis_url=redis_url) as url:
        yield url, settings


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def sign_in(browser: WebDriver, url: str, *, admin: bool) -> None:
    browser.get(url)
    token = mint_token(SECRET, 1, admin=admin)
    browser.execute_script("localStorage.setItem('movierec.token', arguments[0])", token)


def open_console_as_admin(browser: WebDriver, url: str) -> None:
    """Sign in with an admin token and load the Admin page afresh."""
    sign_in(browser, url, admin=True)
    browser.get(f"{url}/#/admin")
    browser.refresh()


def work_in_background(settings: Settings, model: SentenceTransformerEmbedder) -> threading.Thread:
    """A burst worker in a thread: it runs what the page queued, then stops."""
    worker = threading.Thread(target=run_burst_worker, args=(settings, model), kwargs={"cron": False}, daemon=True)
    worker.start()
    return worker


def test_an_admin_refreshes_embeddings_and_sees_the_run_finish(
    admin_app: tuple[str, Settings], browser: WebDriver, model: SentenceTransformerEmbedder
) -> None:
    url, settings = admin_app
    open_console_as_admin(browser, url)
    wait(browser, "#admin-health h2", "Health")
    assert browser.find_element(By.ID, "admin-link").is_displayed()
    worker_row = browser.find_element(By.CSS_SELECTOR, '#admin-health tr[data-check="worker"]')
    assert worker_row.get_attribute("data-ok") == "false" and "movierec worker" in worker_row.text
    assert "0 stale, 0 missing" in browser.find_element(By.ID, "coverage").text

    browser.execute_script("window.confirm = () => false")  # "Full refresh" asks first; saying no sends nothing
    browser.find_element(By.ID, "refresh-full").click()
    assert browser.find_element(By.ID, "embedding-outcome").text == ""

    browser.execute_script("window.confirm = () => true")
    browser.find_element(By.ID, "refresh-changed").click()
    wait(browser, "#embedding-outcome", "waiting for the worker")
    work_in_background(settings, model).join(timeout=120)
    wait(browser, "#embedding-outcome", "succeeded", timeout=60)
    assert browser.find_element(By.CSS_SELECTOR, "#throughput-chart title").get_attribute("textContent")
    screenshot(browser, "spa-admin")
    assert console_errors(browser) == []


def test_an_edit_shows_up_re_embedded_and_bad_edits_are_refused_beside_their_field(
    admin_app: tuple[str, Settings], browser: WebDriver, model: SentenceTransformerEmbedder
) -> None:
    url, settings = admin_app
    open_console_as_admin(browser, url)
    find = wait(browser, "#admin-find")
    find.send_keys("Incepton\n")
    wait(browser, "#admin-found button", "Inception").click()
    title, year, overview = (browser.find_element(By.ID, f"edit-{n}") for n in ("title", "year", "overview"))
    director = browser.find_element(By.ID, "edit-director").get_attribute("value")

    def save_and_expect(field: str, text: str) -> None:
        browser.find_element(By.ID, "save-movie").click()
        wait(browser, f"#error-{field}", text)

    title.clear()
    save_and_expect("title", "title")
    title.send_keys("Inception")
    year.clear()
    year.send_keys("3000")
    save_and_expect("year", "3000")
    year.clear()
    year.send_keys("2010")
    browser.execute_script("arguments[0].value = 'x'.repeat(1048576)", overview)
    save_and_expect("overview", "request body over")
    stored = browser.execute_script(
        "return fetch('/graphql', {method: 'POST', headers: {'Content-Type': 'application/json'}, "
        "body: JSON.stringify({query: arguments[0]})}).then(r => r.json())",
        '{ movies(search: "Inception", first: 1) { nodes { title year overview } } }',
    )["data"]["movies"]["nodes"][0]
    assert stored["title"] == "Inception" and stored["year"] == 2010 and len(stored["overview"]) < 1000

    browser.execute_script(
        "arguments[0].value = 'A thief plants an idea in a mind, one dream inside another.'", overview
    )
    browser.find_element(By.ID, "save-movie").click()
    wait(browser, "#embedding-status", "Waiting for the worker")
    assert browser.find_element(By.ID, "edit-director").get_attribute("value") == director  # untouched, kept
    work_in_background(settings, model).join(timeout=120)
    wait(browser, '#embedding-status[data-current="true"]', "current", timeout=60)
    wait(browser, "#edit-outcome", "re-embedded")
    screenshot(browser, "spa-admin-edit")


def test_without_an_admin_token_there_is_no_admin_console(admin_app: tuple[str, Settings], browser: WebDriver) -> None:
    url, _ = admin_app
    browser.get(f"{url}/#/admin")
    wait(browser, ".notice", "needs an admin token")
    sign_in(browser, url, admin=False)
    browser.get(f"{url}/#/")
    browser.refresh()
    wait(browser, "#account", "Signed in as")
    assert not browser.find_element(By.ID, "admin-link").is_displayed()
    browser.get(f"{url}/#/admin")
    wait(browser, ".notice", "signed in without admin rights")
    assert console_errors(browser) == []
