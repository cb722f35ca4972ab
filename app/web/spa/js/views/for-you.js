// Personal recommendations: a diversity slider, "Why?" on each, and the viewer's own ratings.
import { movieCard, percent } from "../components.js";
import { debounce, h, mount } from "../dom.js";
import { describe, failedNotice, loading, notice } from "../feedback.js";
import { EXPLAIN, RECOMMENDATIONS } from "../queries.js";
import { ratingControl } from "../rating.js";
import { session } from "../session.js";
import { openSignIn } from "../sign-in.js";

const LIMIT = 12;
let diversity = 0.3; // kept across visits while the page is open

/** @param {import("../main.js").Page} page */
export async function renderForYou(page) {
  if (!session.viewer) {
    mount(page.root, notice({ title: "Recommendations are personal", body: "Sign in (a demo user is fine) and rate a few movies you know.", action: { label: "Sign in", run: openSignIn } }));
    return;
  }
  const viewer = session.viewer;
  const list = h("section", { class: "recommendations", "aria-live": "polite" });
  const sidebar = h("aside", { class: "sidebar" });
  const value = h("output", { id: "diversity-value", text: diversityLabel(diversity) });
  const slider = h("input", { type: "range", id: "diversity", min: "0", max: "1", step: "0.1", value: String(diversity) });
  const reload = debounce(() => loadRecommendations(page, list), 250);
  slider.addEventListener("input", () => {
    diversity = Number(/** @type {HTMLInputElement} */ (slider).value);
    value.textContent = diversityLabel(diversity);
    reload();
  });
  mount(
    page.root,
    h(
      "div",
      { class: "page-head" },
      h("h1", { text: `For you, ${viewer.name.split(" (")[0]}` }),
      h("div", { class: "slider" }, h("label", { for: "diversity", text: "Diversity" }), slider, value),
    ),
    h("div", { class: "with-sidebar" }, list, sidebar),
  );
  renderRatings(sidebar);
  const onRatings = () => {
    if (!page.isCurrent()) return session.removeEventListener("ratings", onRatings);
    renderRatings(sidebar);
    reload();
  };
  session.addEventListener("ratings", onRatings);
  await loadRecommendations(page, list);
}

function diversityLabel(/** @type {number} */ value) {
  return value === 0 ? "0 · closest matches" : value >= 0.7 ? `${value.toFixed(1)} · wide variety` : `${value.toFixed(1)} · some variety`;
}

async function loadRecommendations(/** @type {import("../main.js").Page} */ page, /** @type {HTMLElement} */ list) {
  list.setAttribute("aria-busy", "true");
  if (!list.children.length) mount(list, loading("Finding movies for you…"));
  try {
    const data = await session.request(RECOMMENDATIONS, { limit: LIMIT, diversity });
    if (!page.isCurrent()) return;
    const { strategy, items } = data.recommendations;
    list.dataset.strategy = strategy;
    mount(
      list,
      strategy === "COLD_START_POPULAR"
        ? notice({ title: "No ratings yet", body: "Until you rate a few movies, these are popular, well-liked picks. Rate three or more to make this list yours.", kind: "info" })
        : null,
      items.length
        ? h("div", { class: "grid" }, items.map((/** @type {any} */ item) => recommendationCard(item, strategy)))
        : notice({ title: "You've seen it all", body: "Every embedded movie is rated. Add movies to the catalogue for more." }),
    );
  } catch (error) {
    if (!page.isCurrent()) return;
    mount(list, failedNotice(error, page.reload));
  } finally {
    list.removeAttribute("aria-busy");
  }
}

function recommendationCard(/** @type {any} */ item, /** @type {string} */ strategy) {
  const why = h("div", { class: "why", hidden: true });
  const toggle = h("button", { type: "button", class: "button ghost small why-button", "aria-expanded": "false", text: "Why?" });
  toggle.addEventListener("click", () => toggleWhy(item.movie.id, why, toggle));
  return movieCard(item.movie, {
    similarity: strategy === "COLD_START_POPULAR" ? undefined : item.similarity,
    summary: item.movie.overview,
    extra: [h("div", { class: "card-actions" }, ratingControl(item.movie), toggle), why],
  });
}

async function toggleWhy(/** @type {string} */ movieId, /** @type {HTMLElement} */ panel, /** @type {HTMLElement} */ toggle) {
  const open = panel.hidden;
  panel.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
  if (!open) return;
  mount(panel, loading("Explaining…"));
  try {
    const { explainRecommendation: why } = await session.request(EXPLAIN, { movieId });
    const parts = why.breakdown;
    const people = why.peopleAlsoLiked.filter((/** @type {any} */ e) => e.contribution > 0).slice(0, 3);
    const against = why.peopleAlsoLiked.filter((/** @type {any} */ e) => e.contribution < 0).slice(0, 2);
    mount(
      panel,
      h("p", { class: "why-text", text: why.text }),
      people.length
        ? h(
            "ul",
            { class: "why-people" },
            people.map((/** @type {any} */ e) =>
              h("li", {}, "People who liked ", h("a", { href: `#/movie/${e.movie.id}`, text: e.movie.title }), ` (you: ${e.yourRating}/5) also liked this`),
            ),
          )
        : null,
      against.length
        ? h(
            "ul",
            { class: "why-against" },
            against.map((/** @type {any} */ e) =>
              h("li", {}, "You rated ", h("a", { href: `#/movie/${e.movie.id}`, text: e.movie.title }), ` ${e.yourRating}/5: films like it rank lower`),
            ),
          )
        : null,
      why.similarToYourFavorites.length
        ? h(
            "ul",
            { class: "why-matches" },
            why.similarToYourFavorites.map((/** @type {any} */ match) =>
              h(
                "li",
                {},
                "You rated ",
                h("a", { href: `#/movie/${match.movie.id}`, text: match.movie.title }),
                ` ${match.yourRating}/5 — ${percent(match.similarity)} similar`,
              ),
            ),
          )
        : null,
      h("p", { class: "why-breakdown muted" }, scoreFormula(parts)),
    );
  } catch (error) {
    const { title, body } = describe(error);
    mount(panel, h("p", { class: "form-error", text: `${title}: ${body}` }));
  }
}

/** "Score 0.81 = 0.70 × people like you 0.93 + 0.15 × taste match 0.55 + 0.15 × popularity 0.40" */
function scoreFormula(/** @type {any} */ parts) {
  const terms = [
    [parts.collaborativeWeight, "people like you", parts.collaborative],
    [parts.contentWeight, "taste match", parts.similarity],
    [parts.popularityWeight, "popularity", parts.popularity],
  ].filter(([weight]) => weight > 0);
  return `Score ${parts.score.toFixed(2)} = ${terms.map(([w, name, v]) => `${w.toFixed(2)} × ${name} ${v.toFixed(2)}`).join(" + ")}`;
}

function renderRatings(/** @type {HTMLElement} */ sidebar) {
  const ratings = session.viewer ? session.viewer.ratings : [];
  mount(
    sidebar,
    h("h2", { class: "section-title", text: `Your ratings (${ratings.length})` }),
    ratings.length
      ? h(
          "ol",
          { class: "rated" },
          ratings.map((rating) =>
            h(
              "li",
              { dataset: { movieId: rating.movieId } },
              h("a", { href: `#/movie/${rating.movieId}`, text: rating.movie ? rating.movie.title : `Movie ${rating.movieId}` }),
              h("span", { class: "rated-value", text: `${rating.rating}/5` }),
            ),
          ),
        )
      : h("p", { class: "muted", text: "Nothing rated yet. Use the stars on any movie." }),
  );
}
