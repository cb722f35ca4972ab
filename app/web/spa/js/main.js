// The app's entry point: a hash router over four pages, and the reactions to signing in and out.
import { hideBanner, showBanner } from "./feedback.js";
import { session } from "./session.js";
import { openSignIn, renderAccount } from "./sign-in.js";
import { renderAdmin } from "./views/admin.js";
import { renderForYou } from "./views/for-you.js";
import { renderMovie } from "./views/movie.js";
import { renderSearch } from "./views/search.js";
import { renderStats } from "./views/stats.js";

/**
 * What a page renderer gets: where to draw, the route's parameters, whether it is still the page
 * on screen (answers can arrive after people move on) and a way to draw it again.
 * @typedef {{root: HTMLElement, params: URLSearchParams, isCurrent: () => boolean, reload: () => void}} Page
 */

/** @type {Record<string, (page: Page) => Promise<void>>} */
const ROUTES = { search: renderSearch, movie: renderMovie, "for-you": renderForYou, stats: renderStats, admin: renderAdmin };

let generation = 0;

/** "#/movie/12" -> ["movie", {id: 12}]; "#/?q=x" -> ["search", {q: x}]. */
function parseHash(/** @type {string} */ hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "movie" && parts[1]) {
    params.set("id", decodeURIComponent(parts[1]));
    return { name: "movie", params };
  }
  return { name: parts[0] && parts[0] in ROUTES ? parts[0] : "search", params };
}

function render() {
  const { name, params } = parseHash(window.location.hash);
  const mine = ++generation;
  const root = /** @type {HTMLElement} */ (document.getElementById("view"));
  document.querySelectorAll(".nav a[data-route]").forEach((link) => {
    link.toggleAttribute("aria-current", /** @type {HTMLElement} */ (link).dataset.route === name);
  });
  root.dataset.page = name;
  ROUTES[name]({ root, params, isCurrent: () => mine === generation, reload: render });
}

session.addEventListener("change", (event) => {
  renderAccount();
  const reason = /** @type {CustomEvent} */ (event).detail.reason;
  if (reason === "expired") showBanner({ code: "UNAUTHENTICATED" }, { label: "Sign in", run: openSignIn });
  render();
});

async function start() {
  renderAccount();
  window.addEventListener("hashchange", () => {
    hideBannerUnlessSession();
    render();
  });
  try {
    await session.restore();
  } catch (error) {
    // An expired token already signed out and said so; anything else (the network) is said here.
    if (/** @type {any} */ (error).code !== "UNAUTHENTICATED") showBanner(error, { label: "Retry", run: () => window.location.reload() });
  }
  if (!session.signedIn) render(); // signing in rendered the page already
}

// Errors about the session stay until acted on; others belong to the page they happened on.
function hideBannerUnlessSession() {
  const banner = document.getElementById("banner");
  if (banner && banner.dataset.code !== "UNAUTHENTICATED") hideBanner();
}

start();
