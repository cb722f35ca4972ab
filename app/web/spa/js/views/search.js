// Search by meaning: a box, a few example questions, and the closest movies.
import { movieCard } from "../components.js";
import { h, mount } from "../dom.js";
import { failedNotice, loading, notice } from "../feedback.js";
import { SEARCH_MOVIES } from "../queries.js";
import { session } from "../session.js";

const EXAMPLES = ["a heist inside people's dreams", "a lonely robot falls in love", "mob family loyalty and betrayal", "toys come alive"];

/** @param {import("../main.js").Page} page */
export async function renderSearch(page) {
  const query = (page.params.get("q") || "").trim();
  const input = h("input", {
    type: "search",
    name: "q",
    id: "search-input",
    value: query,
    placeholder: "Describe a movie: a plot, a mood, a theme…",
    "aria-label": "Search movies by meaning",
    autocomplete: "off",
    maxlength: "500",
  });
  const go = (/** @type {string} */ text) => {
    const hash = `#/?q=${encodeURIComponent(text.trim())}`;
    // The same search again (say, after an error) changes no hash, so no hashchange: redraw.
    if (window.location.hash === hash) page.reload();
    else window.location.hash = hash;
  };
  const results = h("section", { class: "results", "aria-live": "polite" });
  mount(
    page.root,
    h(
      "section",
      { class: "hero" },
      h("h1", { text: "Find movies by what they're about" }),
      h("p", { class: "muted", text: "Not keywords: meaning. Describe a story and movierec finds the films closest to it." }),
      h(
        "form",
        { class: "search-form", role: "search", onSubmit: (/** @type {Event} */ event) => {
          event.preventDefault();
          const text = /** @type {HTMLInputElement} */ (input).value;
          if (text.trim()) go(text);
        } },
        input,
        h("button", { type: "submit", class: "button", text: "Search" }),
      ),
      h("p", { class: "examples" }, "Try: ", EXAMPLES.map((text) => h("button", { type: "button", class: "chip", onClick: () => go(text), text }))),
    ),
    results,
  );
  if (!query) {
    input.focus();
    return;
  }
  mount(results, loading("Searching…"));
  try {
    const data = await session.request(SEARCH_MOVIES, { query, limit: 12 });
    if (!page.isCurrent()) return;
    const items = data.searchMovies.items;
    mount(
      results,
      items.length
        ? [
            h("h2", { class: "section-title", text: `Closest to “${query}”` }),
            h("div", { class: "grid" }, items.map((/** @type {any} */ item) => movieCard(item.movie, { similarity: item.similarity }))),
          ]
        : notice({ title: "No movies yet", body: "The catalogue has no embedded movies to search. Run `movierec setup`." }),
    );
  } catch (error) {
    if (!page.isCurrent()) return;
    mount(results, failedNotice(error, page.reload));
  }
}
