// The catalogue at a glance: coverage, the model, the vector index and the last embedding run.
import { h, mount } from "../dom.js";
import { failedNotice, loading } from "../feedback.js";
import { STATS } from "../queries.js";
import { session } from "../session.js";

function tile(/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ detail = "") {
  return h("div", { class: "tile" }, h("span", { class: "tile-label", text: label }), h("strong", { class: "tile-value", text: value }), detail ? h("span", { class: "tile-detail", text: detail }) : null);
}

function mebibytes(/** @type {number} */ bytes) {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** @param {import("../main.js").Page} page */
export async function renderStats(page) {
  mount(page.root, loading());
  try {
    const { stats } = await session.request(STATS);
    if (!page.isCurrent()) return;
    const index = stats.index;
    const run = stats.lastRun;
    const number = (/** @type {number} */ n) => n.toLocaleString("en");
    mount(
      page.root,
      h("h1", { text: "Catalogue stats" }),
      h(
        "div",
        { class: "tiles", id: "stats" },
        tile("Coverage", `${stats.coveragePercentage.toFixed(1)}%`, `${number(stats.moviesWithEmbeddings)} of ${number(stats.totalMovies)} movies embedded`),
        tile("Current embeddings", number(stats.currentEmbeddings), "match the movie's text now"),
        tile("Model", stats.model, stats.dimension ? `${stats.dimension} dimensions` : "dimension unknown"),
        index
          ? tile("Vector index", index.method.toUpperCase(), [index.operatorClass, index.valid ? "valid" : "INVALID", mebibytes(index.sizeBytes), ...index.parameters.map((/** @type {any} */ p) => `${p.name}=${p.value}`)].join(", "))
          : tile("Vector index", "none", "exact scans until one is built"),
        tile("Users", number(stats.users), `${number(stats.ratings)} ratings`),
        run
          ? tile("Last embedding run", run.status, `#${run.id}, ${run.trigger}, ${new Date(run.startedAt).toLocaleString()}: ${number(run.embedded)} embedded, ${number(run.failed)} failed`)
          : tile("Last embedding run", "none yet"),
      ),
    );
  } catch (error) {
    if (!page.isCurrent()) return;
    mount(page.root, failedNotice(error, page.reload));
  }
}
