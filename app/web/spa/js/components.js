// The pieces pages are made of: posters, movie cards and the half-star rating control.
import { h } from "./dom.js";

/** A poster drawn from the title (the catalogue has no images, and nothing loads from elsewhere). */
export function poster(/** @type {{title: string, year?: number | null}} */ movie, size = "") {
  let hash = 0;
  for (const char of movie.title) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return h(
    "div",
    { class: `poster ${size}`, style: `--hue: ${hue}; --hue2: ${(hue + 50) % 360}`, "aria-hidden": "true" },
    h("span", { class: "poster-title", text: movie.title }),
    movie.year ? h("span", { class: "poster-year", text: String(movie.year) }) : null,
  );
}

/** "83% match" from a cosine similarity. */
export function percent(/** @type {number} */ similarity) {
  return `${Math.round(Math.max(0, similarity) * 100)}%`;
}

/**
 * A movie card linking to its page; `extra` goes under the title (stars, buttons, panels).
 * @param {{id: string, title: string, year: number | null, genres: string[], director?: string | null}} movie
 * @param {{similarity?: number, summary?: string, extra?: any[]}} [options]
 */
export function movieCard(movie, options = {}) {
  return h(
    "article",
    { class: "card", dataset: { movieId: movie.id } },
    h("a", { class: "card-link", href: `#/movie/${movie.id}`, "aria-label": `${movie.title} (${movie.year ?? "year unknown"})` }, poster(movie)),
    h(
      "div",
      { class: "card-body" },
      h("h3", { class: "card-title" }, h("a", { href: `#/movie/${movie.id}`, text: movie.title })),
      h(
        "p",
        { class: "card-meta" },
        [movie.year, movie.genres.slice(0, 3).join(" · ")].filter(Boolean).join(" — "),
      ),
      options.similarity !== undefined ? h("p", { class: "match", text: `${percent(options.similarity)} match` }) : null,
      options.summary ? h("p", { class: "card-summary", text: options.summary }) : null,
      options.extra || null,
    ),
  );
}

const HALF_STEPS = [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5];

/**
 * Five stars rated in half steps. Each star has a left (x.5) and right (x.0) button; hovering previews.
 * @param {{value: number | null, onRate: (value: number) => void, onClear?: () => void, label?: string}} options
 */
export function stars(options) {
  const row = h("div", { class: "stars", role: "group", "aria-label": options.label || "Your rating" });
  const paint = (/** @type {number | null} */ shown) => {
    row.querySelectorAll(".star").forEach((star, index) => {
      const fill = shown === null ? 0 : Math.min(1, Math.max(0, shown - index));
      star.classList.toggle("full", fill >= 1);
      star.classList.toggle("half", fill === 0.5);
    });
  };
  for (let index = 0; index < 5; index++) {
    const star = h("span", { class: "star" });
    for (const value of HALF_STEPS.slice(index * 2, index * 2 + 2)) {
      star.appendChild(
        h("button", {
          type: "button",
          class: value % 1 ? "half-left" : "half-right",
          "aria-label": `Rate ${value} out of 5`,
          "aria-pressed": value === options.value ? "true" : "false",
          dataset: { rating: String(value) },
          onMouseenter: () => paint(value),
          onFocus: () => paint(value),
          onClick: () => options.onRate(value),
        }),
      );
    }
    row.appendChild(star);
  }
  row.addEventListener("mouseleave", () => paint(options.value));
  paint(options.value);
  row.appendChild(h("span", { class: "stars-value", text: options.value ? `${options.value}/5` : "Not rated" }));
  if (options.value && options.onClear) {
    row.appendChild(h("button", { type: "button", class: "link small", onClick: options.onClear, text: "Remove" }));
  }
  return row;
}
