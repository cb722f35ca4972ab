// Search: titles (typos too), directors and cast, words and meaning, fused by the API; badges say what
// found each film, a genre picker narrows the list and "More results" pages on.
import { movieCard } from "../components.js";
import { h, mount } from "../dom.js";
import { failedNotice, loading, notice } from "../feedback.js";
import { GENRES, SEARCH_MOVIES } from "../queries.js";
import { session } from "../session.js";

const EXAMPLES = ["a heist inside people's dreams", "a lonely robot falls in love", "Greta Gerwig", "Incepton"];
const PAGE_SIZE = 12;
/** What the API's matchedBy values mean to a reader. */
const BADGES = /** @type {Record<string, string>} */ ({ TITLE: "title", PEOPLE: "director/cast", TEXT: "words", MEANING: "meaning" });

/** The badges of one hit, in a fixed order. */
function badges(/** @type {string[]} */ matchedBy) {
  return h(
    "p",
    { class: "badges" },
    matchedBy.map((by) => h("span", { class: `badge badge-${by.toLowerCase()}`, text: BADGES[by] || by.toLowerCase() })),
  );
}

/** The genre picker, filled from the `genres` query (left empty if it fails: searching still works). */
function genrePicker(/** @type {string} */ selected, /** @type {(genre: string) => void} */ onPick) {
  const select = /** @type {HTMLSelectElement} */ (
    h("select", { id: "genre-picker", name: "genre", "aria-label": "Genre", onChange: () => onPick(select.value) },
      h("option", { value: "", text: "All genres" }))
  );
  session
    .request(GENRES, {})
    .then((data) => {
      for (const genre of data.genres) {
        const option = h("option", { value: genre.name, text: `${genre.name} (${genre.movies})` });
        if (genre.name.toLowerCase() === selected.toLowerCase()) option.setAttribute("selected", "");
        select.appendChild(option);
      }
    })
    .catch(() => undefined);
  return select;
}

/** @param {import("../main.js").Page} page */
export async function renderSearch(page) {
  const query = (page.params.get("q") || "").trim();
  const genre = (page.params.get("genre") || "").trim();
  const input = h("input", {
    type: "search",
    name: "q",
    id: "search-input",
    value: query,
    placeholder: "A title, a director or actor, a plot, a mood…",
    "aria-label": "Search movies",
    autocomplete: "off",
    maxlength: "500",
  });
  const go = (/** @type {string} */ text, /** @type {string} */ pickedGenre = genre) => {
    const hash = `#/?q=${encodeURIComponent(text.trim())}${pickedGenre ? `&genre=${encodeURIComponent(pickedGenre)}` : ""}`;
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
      h("h1", { text: "Find any film" }),
      h("p", { class: "muted", text: "By title (typos forgiven), by who made it or stars in it, or by what it is about." }),
      h(
        "form",
        { class: "search-form", role: "search", onSubmit: (/** @type {Event} */ event) => {
          event.preventDefault();
          const text = /** @type {HTMLInputElement} */ (input).value;
          if (text.trim()) go(text);
        } },
        input,
        genrePicker(genre, (picked) => {
          const text = /** @type {HTMLInputElement} */ (input).value;
          if (text.trim()) go(text, picked);
          else window.location.hash = picked ? `#/?genre=${encodeURIComponent(picked)}` : "#/";
        }),
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
  const grid = h("div", { class: "grid" });
  const more = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "button ghost", id: "more-results", text: "More results" }));
  let offset = 0;
  const shown = new Set();
  const filter = genre ? { genres: [genre] } : null;
  const loadPage = async () => {
    const data = await session.request(SEARCH_MOVIES, { query, limit: PAGE_SIZE, offset, filter });
    const found = data.searchMovies;
    for (const item of found.items) {
      // A page past the first 40 results ranks a larger pool, where a film can move a place: show it once.
      if (shown.has(item.movie.id)) continue;
      shown.add(item.movie.id);
      grid.appendChild(movieCard(item.movie, { similarity: item.similarity ?? undefined, extra: [badges(item.matchedBy)] }));
    }
    offset += found.items.length;
    more.hidden = !found.hasMore;
    return found;
  };
  more.addEventListener("click", async () => {
    more.disabled = true; // one page per click, however fast the clicks
    more.textContent = "Loading…";
    try {
      await loadPage();
    } catch (error) {
      grid.after(failedNotice(error, page.reload));
    } finally {
      more.disabled = false;
      more.textContent = "More results";
    }
  });
  mount(results, loading("Searching…"));
  try {
    const found = await loadPage();
    if (!page.isCurrent()) return;
    const heading = genre ? `Results for “${query}” in ${genre}` : `Results for “${query}”`;
    mount(
      results,
      found.items.length
        ? [h("h2", { class: "section-title", text: heading }), grid, h("p", { class: "more" }, more)]
        : notice({ title: "Nothing found", body: "No title, name or description matches. Try other words or another genre." }),
    );
  } catch (error) {
    if (!page.isCurrent()) return;
    mount(results, failedNotice(error, page.reload));
  }
}
