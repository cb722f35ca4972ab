// One movie: its details, the viewer's rating, and the movies most like it.
import { movieCard, poster } from "../components.js";
import { h, mount } from "../dom.js";
import { failedNotice, loading, notice } from "../feedback.js";
import { MOVIE_PAGE } from "../queries.js";
import { ratingControl } from "../rating.js";
import { session } from "../session.js";

/** @param {import("../main.js").Page} page */
export async function renderMovie(page) {
  const id = page.params.get("id") || "";
  mount(page.root, loading());
  let data;
  try {
    data = await session.request(MOVIE_PAGE, { id, limit: 8 });
  } catch (error) {
    if (!page.isCurrent()) return;
    const missing = /** @type {any} */ (error).code === "NOT_FOUND" || /** @type {any} */ (error).code === "BAD_USER_INPUT";
    mount(
      page.root,
      missing
        ? notice({ title: "No such movie", body: `There is no movie with id ${id}.`, action: { label: "Search instead", run: () => (window.location.hash = "#/") } })
        : failedNotice(error, page.reload),
    );
    return;
  }
  if (!page.isCurrent()) return;
  const movie = data.movie;
  const facts = [
    movie.director && ["Director", movie.director],
    movie.cast.length && ["Cast", movie.cast.join(", ")],
    movie.keywords.length && ["Keywords", movie.keywords.join(", ")],
    movie.voteAverage !== null && ["Vote average", `${movie.voteAverage.toFixed(1)} / 10 (${movie.voteCount ?? 0} votes)`],
    ["Ratings on movierec", String(movie.ratingCount)],
  ].filter(Boolean);
  mount(
    page.root,
    h(
      "article",
      { class: "movie-detail" },
      poster(movie, "large"),
      h(
        "div",
        { class: "movie-info" },
        h("h1", {}, movie.title, movie.year ? h("span", { class: "year", text: ` (${movie.year})` }) : null),
        h("p", { class: "chips" }, movie.genres.map((/** @type {string} */ genre) => h("span", { class: "chip static", text: genre }))),
        h("p", { class: "overview", text: movie.overview || "No overview." }),
        h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", { text: term }), h("dd", { text: value })])),
        h("div", { class: "your-rating" }, h("span", { class: "label", text: "Your rating" }), ratingControl(movie)),
      ),
    ),
    movie.alsoLiked.length
      ? [
          h("h2", { class: "section-title also-liked-title", text: "People who liked this also liked" }),
          h("div", { class: "grid also-liked" }, movie.alsoLiked.map((/** @type {any} */ item) => movieCard(item.movie, {}))),
        ]
      : null,
    h("h2", { class: "section-title", text: `More like ${movie.title}` }),
    data.similarMovies.items.length
      ? h("div", { class: "grid" }, data.similarMovies.items.map((/** @type {any} */ item) => movieCard(item.movie, { similarity: item.similarity })))
      : notice({ title: "Nothing similar yet", body: movie.hasEmbedding ? "No other movie is embedded yet." : "This movie is waiting for its embedding; the worker adds it shortly." }),
  );
}
