"""The web app and GraphiQL in headless Chromium, against the real app on a free localhost port."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from app.auth import mint_token
from app.embeddings.model import SentenceTransformerEmbedder
from tests.api_support import SECRET
from tests.browser_support import (
    chromium,
    console_errors,
    live_server,
    requested_urls,
    require_chromium,
    screenshot,
)

pytestmark = pytest.mark.model

EVE = "Eve (new here, no ratings yet)"


@pytest.fixture
def base_url(demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path) -> Iterator[str]:
    """The app on a fresh demo database, served over real HTTP."""
    require_chromium()
    with live_server(demo_database_url, model, tmp_path / "movierec") as url:
        yield url


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """A fresh headless Chromium for one test."""
    require_chromium()
    with chromium() as driver:
        yield driver


def wait(driver: WebDriver, css: str, text: str = "", timeout: float = 30) -> WebElement:
    """The first element matching `css` (containing `text`) once it is displayed."""

    def found(d: WebDriver) -> WebElement | bool:
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if element.is_displayed() and text in element.text:
                return element
        return False

    message = f"no visible {css!r} containing {text!r}"
    # Pages redraw as answers arrive, so an element found a moment ago may be gone: look again.
    patient = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return patient.until(found, message)  # type: ignore[no-any-return]


def card_titles(driver: WebDriver, scope: str) -> list[str]:
    """The movie titles of the cards in `scope`, in order."""
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"{scope} .card-title")]


def rate_open_movie(driver: WebDriver, rating: str) -> str:
    """Rate the movie on screen; returns its title once the server has saved the rating."""
    title = wait(driver, ".movie-detail h1").text.split(" (")[0]
    driver.find_element(By.CSS_SELECTOR, f'.your-rating button[data-rating="{rating}"]').click()
    wait(driver, ".your-rating .stars-value", f"{rating}/5")
    return title


def open_first_unrated_similar(driver: WebDriver, rated: list[str]) -> None:
    """Open the first movie in "More like ..." that is not rated yet, and wait for its page."""
    cards = driver.find_elements(By.CSS_SELECTOR, ".grid .card-title a")
    target = next(card for card in cards if card.text not in rated)
    title = target.text
    target.click()
    wait(driver, ".movie-detail h1", title)


def test_graphiql_works_offline_and_runs_similar_movies(base_url: str, browser: WebDriver) -> None:
    browser.get(f"{base_url}/graphql")
    wait(browser, ".graphiql-container .graphiql-execute-button").click()
    result = wait(browser, ".graphiql-response", "similarMovies")
    assert "Memento" in result.text  # the closest film to Inception in the demo catalogue
    # The schema explorer and the headers editor are there.
    browser.find_element(By.CSS_SELECTOR, '[aria-label="Show Documentation Explorer"]').click()
    wait(browser, ".graphiql-doc-explorer", "Query")
    wait(browser, ".graphiql-editor-tools", "Headers")
    screenshot(browser, "graphiql")
    urls = requested_urls(browser)
    assert urls and all(url.startswith(base_url) for url in urls), [u for u in urls if not u.startswith(base_url)]
    assert f"{base_url}/graphiql/assets/graphiql.min.js" in urls
    assert console_errors(browser) == []


def test_search_sign_in_rate_and_see_recommendations_change(base_url: str, browser: WebDriver) -> None:
    browser.get(base_url)
    search = wait(browser, "#search-input")
    search.send_keys("a thief who plants an idea inside dreams", Keys.ENTER)
    wait(browser, ".results .card")
    assert card_titles(browser, ".results")[0] == "Inception"
    screenshot(browser, "spa-search")

    browser.find_element(By.CSS_SELECTOR, ".results .card-title a").click()
    wait(browser, ".movie-detail h1", "Inception")
    wait(browser, ".your-rating", "Sign in to rate")
    assert len(card_titles(browser, ".grid")) == 8
    screenshot(browser, "spa-movie")

    browser.find_element(By.CSS_SELECTOR, "#account button").click()
    wait(browser, "#sign-in .demo-user", EVE)
    screenshot(browser, "spa-sign-in")
    wait(browser, "#sign-in .demo-user", EVE).click()
    wait(browser, "#account", "Eve")

    browser.find_element(By.CSS_SELECTOR, '.nav a[data-route="for-you"]').click()
    wait(browser, '.recommendations[data-strategy="COLD_START_POPULAR"] .card')
    wait(browser, ".recommendations .notice", "No ratings yet")
    wait(browser, ".sidebar", "Nothing rated yet")
    before = card_titles(browser, ".recommendations")

    # Rate Inception, then two of the films like it, moving through the "More like" lists.
    browser.back()
    rated = [rate_open_movie(browser, "5")]
    open_first_unrated_similar(browser, rated)
    rated.append(rate_open_movie(browser, "4.5"))
    open_first_unrated_similar(browser, rated)
    rate_open_movie(browser, "2.5")  # a change of mind: rate, take it back, rate again
    browser.find_element(By.CSS_SELECTOR, ".your-rating .stars .link").click()
    wait(browser, ".your-rating .stars-value", "Not rated")
    rated.append(rate_open_movie(browser, "3.5"))
    screenshot(browser, "spa-movie-rated")

    browser.find_element(By.CSS_SELECTOR, '.nav a[data-route="for-you"]').click()
    wait(browser, '.recommendations[data-strategy="CONTENT_PROFILE"] .card')
    after = card_titles(browser, ".recommendations")
    assert after != before
    assert not set(rated) & set(after), "rated movies are not recommended again"
    sidebar = wait(browser, ".sidebar", "Your ratings (3)")
    assert all(title in sidebar.text for title in rated)

    browser.find_element(By.CSS_SELECTOR, ".recommendations .why-button").click()
    why = wait(browser, ".recommendations .why-matches li")
    assert any(title in why.text for title in rated), why.text
    screenshot(browser, "spa-for-you")

    # The diversity slider re-ranks the list.
    browser.execute_script(
        "const s = document.getElementById('diversity'); s.value = '1'; s.dispatchEvent(new Event('input'));"
    )
    wait(browser, "#diversity-value", "wide variety")
    WebDriverWait(browser, 20).until(lambda d: card_titles(d, ".recommendations") not in ([], after))

    browser.find_element(By.CSS_SELECTOR, '.nav a[data-route="stats"]').click()
    stats = wait(browser, "#stats", "100.0%")
    assert "COVERAGE" in stats.text and "all-MiniLM-L6-v2" in stats.text and "HNSW" in stats.text
    screenshot(browser, "spa-stats")
    assert console_errors(browser) == []
    urls = requested_urls(browser)
    assert urls and all(url.startswith(base_url) for url in urls), [u for u in urls if not u.startswith(base_url)]

    # GraphiQL picks up the web app's token, so authenticated operations work there too.
    browser.get(f"{base_url}/graphql")
    wait(browser, ".graphiql-editor-tool", "Bearer ey")


def test_expired_token_offline_and_missing_movie_are_explained(base_url: str, browser: WebDriver) -> None:
    browser.get(base_url)
    wait(browser, "#search-input")
    expired = mint_token(SECRET, 5, ttl=timedelta(minutes=-1))
    browser.execute_script("localStorage.setItem('movierec.token', arguments[0])", expired)
    browser.get(f"{base_url}/#/for-you")
    browser.refresh()  # a new hash alone does not reload the page
    wait(browser, '#banner[data-code="UNAUTHENTICATED"]', "Your session has expired")
    wait(browser, "#account button", "Sign in")
    wait(browser, "#view .notice", "Sign in")
    assert browser.execute_script("return localStorage.getItem('movierec.token')") is None
    screenshot(browser, "spa-expired-token")

    browser.get(f"{base_url}/#/movie/99999")
    browser.refresh()
    wait(browser, "#view .notice", "No such movie")

    browser.get(f"{base_url}/#/")
    search = wait(browser, "#search-input")
    browser.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    try:
        search.send_keys("space adventure", Keys.ENTER)
        wait(browser, ".results .notice", "offline")
        screenshot(browser, "spa-offline")
    finally:
        browser.set_network_conditions(offline=False, latency=0, download_throughput=-1, upload_throughput=-1)
    wait(browser, ".results .notice button", "Retry").click()
    wait(browser, ".results .card")


@pytest.fixture
def trained_url(demo_database_url: str, model: SentenceTransformerEmbedder, tmp_path: Path) -> Iterator[str]:
    """The app on a demo database with synthetic raters and a trained collaborative model."""
    import asyncio

    from app.db.connections import connect
    from app.recs.training import train_recommender
    from app.settings import Settings
    from tests.taste_clusters import seed_taste_clusters

    async def prepare() -> None:
        conn = await connect(demo_database_url)
        try:
            await seed_taste_clusters(conn)
            await train_recommender(conn, Settings(train_min_users=3, train_min_ratings=20))
        finally:
            await conn.close()

    require_chromium()
    asyncio.run(prepare())
    with live_server(demo_database_url, model, tmp_path / "movierec") as url:
        yield url


def test_hybrid_reasons_and_people_who_liked_this_also_liked(trained_url: str, browser: WebDriver) -> None:
    browser.get(trained_url)
    wait(browser, "#account button").click()
    wait(browser, "#sign-in .demo-user", "Ana").click()
    wait(browser, "#account", "Ana")
    browser.find_element(By.CSS_SELECTOR, '.nav a[data-route="for-you"]').click()
    wait(browser, '.recommendations[data-strategy="HYBRID"] .card')
    browser.find_element(By.CSS_SELECTOR, ".recommendations .why-button").click()
    people = wait(browser, ".recommendations .why-people li", "People who liked")
    assert "also liked this" in people.text
    wait(browser, ".recommendations .why-matches li", "You rated")  # the content reason too
    formula = wait(browser, ".recommendations .why-breakdown", "people like you")
    assert "taste match" in formula.text and "popularity" in formula.text
    screenshot(browser, "spa-for-you-hybrid")
    # A movie page shows what people who liked it also liked.
    browser.find_element(By.CSS_SELECTOR, ".recommendations .card-title a").click()
    wait(browser, ".also-liked-title", "People who liked this also liked")
    assert len(card_titles(browser, ".also-liked")) >= 1
    screenshot(browser, "spa-movie-also-liked")
    assert console_errors(browser) == []


def test_search_forgives_typos_finds_directors_and_pages_on(base_url: str, browser: WebDriver) -> None:
    browser.get(f"{base_url}/#/?q=Incepton")
    wait(browser, ".results .card")
    first = browser.find_element(By.CSS_SELECTOR, ".results .card")
    assert first.find_element(By.CSS_SELECTOR, ".card-title").text == "Inception"
    assert "title" in [b.text for b in first.find_elements(By.CSS_SELECTOR, ".badge")]

    search = wait(browser, "#search-input")
    search.clear()
    search.send_keys("Christopher Nolan", Keys.ENTER)
    wait(browser, ".results h2", "Christopher Nolan")
    cards = browser.find_elements(By.CSS_SELECTOR, ".results .card")
    nolan = {"Inception", "The Dark Knight", "Interstellar", "Dunkirk", "Memento", "The Prestige", "Batman Begins",
             "The Dark Knight Rises"}  # fmt: skip
    assert {c.find_element(By.CSS_SELECTOR, ".card-title").text for c in cards[:8]} == nolan
    assert all("director/cast" in c.text for c in cards[:8])
    screenshot(browser, "spa-search-director")

    # More results appends the next page once; the genre picker narrows the list.
    shown = len(cards)
    wait(browser, "#more-results")
    # Two clicks in one go: the first disables the button, so one page comes, not two.
    browser.execute_script("const b = document.querySelector('#more-results'); b.click(); b.click();")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".results .card")) > shown)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, "#more-results").text == "More results")
    titles = card_titles(browser, ".results")
    assert len(titles) == len(set(titles)) == 2 * shown
    picker = wait(browser, "#genre-picker option[value='War']")
    picker.click()
    wait(browser, ".results h2", "in War")
    assert "Dunkirk" in card_titles(browser, ".results")
