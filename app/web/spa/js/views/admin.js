// The admin console: health, embeddings, the recommender model and the catalogue, through GraphQL only.
// Shown to admin tokens; the server checks every call (FORBIDDEN is said in words here).
import { lineChart, stackedBar } from "../charts.js";
import { h, mount } from "../dom.js";
import { describe, failedNotice, loading, notice } from "../feedback.js";
import {
  ADMIN_FIND,
  ADMIN_JOB,
  ADMIN_LATEST_RUN,
  ADMIN_MOVIE,
  ADMIN_OVERVIEW,
  ADMIN_REBUILD_INDEX,
  ADMIN_REFRESH,
  ADMIN_ROLLBACK,
  ADMIN_SAVE_MOVIE,
  ADMIN_TRAIN,
  ADMIN_TRAINING_JOB,
} from "../queries.js";
import { session } from "../session.js";

const POLL_MS = 1000;
const number = (/** @type {number | null | undefined} */ n) => (n ?? 0).toLocaleString("en");
const when = (/** @type {string | null} */ iso) => (iso ? new Date(iso).toLocaleString() : "-");

/** A line saying how an action went: "working", "ok" or "error" with the API's code in words. */
function outcome(/** @type {string} */ id) {
  return h("p", { class: "outcome", id, role: "status", "aria-live": "polite" });
}

function say(/** @type {HTMLElement} */ line, /** @type {string} */ kind, /** @type {string} */ text) {
  line.dataset.kind = kind;
  line.textContent = text;
}

function sayError(/** @type {HTMLElement} */ line, /** @type {any} */ error) {
  const { title, body } = describe(error);
  say(line, "error", `${title}${error && error.code ? ` (${error.code})` : ""}: ${body}`);
}

/**
 * A button that asks first (when `confirm` is set), runs once at a time and reports into `line`.
 * @param {{label: string, id: string, confirm?: string, line: HTMLElement, run: () => Promise<string>}} options
 */
function actionButton(options) {
  const button = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "button small", id: options.id, text: options.label }));
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    if (options.confirm && !window.confirm(options.confirm)) return;
    button.disabled = true; // one request per click, however fast the clicks
    say(options.line, "working", `${options.label}…`);
    try {
      say(options.line, "ok", await options.run());
    } catch (error) {
      sayError(options.line, error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** Poll `check` every second until it returns a final message (or the page is left). */
async function poll(/** @type {() => Promise<string | null>} */ check, /** @type {() => boolean} */ alive) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (!alive()) return "left the page";
    const done = await check();
    if (done) return done;
  }
}

function healthSection(/** @type {any[]} */ checks) {
  const failing = checks.filter((c) => !c.ok).length;
  return h(
    "section",
    { class: "admin-section", id: "admin-health" },
    h("h2", { text: failing ? `Health: ${failing} check${failing > 1 ? "s" : ""} failing` : "Health: all checks pass" }),
    h(
      "table",
      { class: "admin-table" },
      h("thead", {}, h("tr", {}, h("th", { text: "Check" }), h("th", { text: "" }), h("th", { text: "Found" }), h("th", { text: "Fix" }))),
      h(
        "tbody",
        {},
        checks.map((c) =>
          h("tr", { dataset: { check: c.name, ok: String(c.ok) } }, h("td", { text: c.name }), h("td", { class: c.ok ? "ok" : "fail", text: c.ok ? "OK" : "FAIL" }), h("td", { text: c.detail }), h("td", { text: c.ok ? "" : c.fix })),
        ),
      ),
    ),
  );
}

function embeddingsSection(/** @type {any} */ data, /** @type {import("../main.js").Page} */ page) {
  const { stats, embeddingRuns: runs } = data;
  const index = stats.index;
  const line = outcome("embedding-outcome");
  const samples = /** @type {{x: number, y: number}[]} */ ([]);
  const live = h("div", { id: "run-progress" });
  const follow = async (/** @type {string} */ jobId, /** @type {string} */ what) => {
    const started = Date.now();
    let last = { t: started, embedded: 0 };
    const result = await poll(async () => {
      const { refreshJob: job } = await session.request(ADMIN_JOB, { id: jobId });
      const run = job.run;
      if (run) {
        const now = Date.now();
        const rate = ((run.embedded - last.embedded) * 1000) / Math.max(1, now - last.t);
        last = { t: now, embedded: run.embedded };
        samples.push({ x: (now - started) / 1000, y: Math.max(0, rate) });
        mount(live, h("p", { text: `Run #${run.id}: ${run.status}, ${number(run.embedded)} embedded, ${number(run.failed)} failed` }), lineChart(samples, { describe: "Movies embedded per second during this run", unit: "/s", id: "throughput-chart" }));
        if (run.status !== "running") return `${what}: run #${run.id} ${run.status}, ${number(run.embedded)} embedded.`;
      }
      if (job.status === "not_found" || job.status === "complete") return `${what}: finished.`;
      if (job.status === "dead") return `${what}: its worker stopped; the queue will deliver it again.`;
      return null;
    }, page.isCurrent);
    return result;
  };
  const refresh = (/** @type {boolean} */ full) => async () => {
    const { refreshEmbeddings: job } = await session.request(ADMIN_REFRESH, { full });
    say(line, "working", `${full ? "Full refresh" : "Refresh"} queued (${job.status}); waiting for the worker…`);
    return follow(job.id, full ? "Full refresh" : "Refresh");
  };
  const rebuild = async () => {
    const { rebuildVectorIndex: job } = await session.request(ADMIN_REBUILD_INDEX);
    say(line, "working", `Index rebuild queued (${job.status}); waiting for the worker…`);
    const done = await poll(async () => {
      const { refreshJob: state } = await session.request(ADMIN_JOB, { id: job.id });
      return state.status === "not_found" || state.status === "complete" ? "Index rebuilt (reload to see its size)." : null;
    }, page.isCurrent);
    return done;
  };
  const running = runs.find((/** @type {any} */ r) => r.status === "running");
  if (running) {
    // A run started elsewhere (the cron tick, the CLI): follow it too.
    say(line, "working", `Run #${running.id} is running…`);
    const started = Date.now();
    poll(async () => {
      const { embeddingRuns: [latest] } = await session.request(ADMIN_LATEST_RUN);
      samples.push({ x: (Date.now() - started) / 1000, y: latest ? latest.embedded : 0 });
      mount(live, h("p", { text: `Run #${latest.id}: ${latest.status}, ${number(latest.embedded)} embedded` }), lineChart(samples, { describe: "Movies embedded so far in the running run", id: "throughput-chart" }));
      return latest.status === "running" ? null : `Run #${latest.id} ${latest.status}, ${number(latest.embedded)} embedded.`;
    }, page.isCurrent).then((done) => say(line, "ok", done));
  }
  const rates = runs
    .filter((/** @type {any} */ r) => r.finishedAt && r.embedded > 0)
    .reverse()
    .map((/** @type {any} */ r, /** @type {number} */ i) => ({ x: i, y: r.embedded / Math.max(0.001, (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000) }));
  return h(
    "section",
    { class: "admin-section", id: "admin-embeddings" },
    h("h2", { text: "Embeddings" }),
    h("p", { id: "coverage", text: `Coverage ${stats.coveragePercentage.toFixed(1)}%: ${number(stats.currentEmbeddings)} current, ${number(stats.staleEmbeddings)} stale, ${number(stats.missingEmbeddings)} missing of ${number(stats.totalMovies)} (${number(stats.thinMovies)} thin records, ${number(stats.passages)} sentence vectors).` }),
    stackedBar(
      [
        { label: "current", value: stats.currentEmbeddings, kind: "ok" },
        { label: "stale", value: stats.staleEmbeddings, kind: "warn" },
        { label: "missing", value: stats.missingEmbeddings, kind: "fail" },
      ],
      { describe: "Embedding coverage: current, stale and missing", id: "coverage-chart" },
    ),
    h("p", { id: "index-facts", text: index ? `Index: ${index.method.toUpperCase()} ${index.operatorClass}, ${index.valid ? "valid" : "INVALID"}, ${(index.sizeBytes / 2 ** 20).toFixed(1)} MiB, ${index.parameters.map((/** @type {any} */ p) => `${p.name}=${p.value}`).join(", ")}` : "Index: none (exact scans)" }),
    h(
      "p",
      { class: "actions" },
      actionButton({ label: "Refresh changed", id: "refresh-changed", line, confirm: "Embed the movies that are new or changed now?", run: refresh(false) }),
      actionButton({ label: "Full refresh", id: "refresh-full", line, confirm: "Re-embed every movie? The current vectors keep serving meanwhile.", run: refresh(true) }),
      actionButton({ label: "Rebuild index", id: "rebuild-index", line, confirm: "Rebuild the vector index? The old one serves until the new one is valid.", run: rebuild }),
    ),
    line,
    live,
    h("h3", { text: "Recent runs (movies per second)" }),
    lineChart(rates, { describe: "Movies embedded per second in each recent run, oldest first", unit: "/s", id: "runs-chart" }),
    h(
      "table",
      { class: "admin-table", id: "runs" },
      h("thead", {}, h("tr", {}, ["Run", "Status", "Trigger", "Started", "Embedded", "Failed"].map((t) => h("th", { text: t })))),
      h("tbody", {}, runs.map((/** @type {any} */ r) => h("tr", {}, h("td", { text: `#${r.id}${r.full ? " (full)" : ""}` }), h("td", { text: r.status }), h("td", { text: r.trigger }), h("td", { text: when(r.startedAt) }), h("td", { text: number(r.embedded) }), h("td", { text: number(r.failed) })))),
    ),
  );
}

function modelSection(/** @type {any[]} */ models, /** @type {import("../main.js").Page} */ page) {
  const line = outcome("model-outcome");
  const train = async () => {
    const { trainRecommender: job } = await session.request(ADMIN_TRAIN);
    say(line, "working", `Training queued (${job.status}); waiting for the worker…`);
    return poll(async () => {
      const { trainingJob: state } = await session.request(ADMIN_TRAINING_JOB, { id: job.id });
      const model = state.model;
      if (model && model.status !== "training") return `Model #${model.id} ${model.status} (${number(model.ratings)} ratings, ${(model.seconds ?? 0).toFixed(1)} s).`;
      return state.status === "not_found" && !model ? "Training finished." : null;
    }, page.isCurrent);
  };
  const rollback = async () => {
    const { rollbackRecommender: model } = await session.request(ADMIN_ROLLBACK);
    return `Model #${model.id} (${model.method}) serves again.`;
  };
  const ready = models.filter((m) => m.status === "ready").reverse();
  return h(
    "section",
    { class: "admin-section", id: "admin-model" },
    h("h2", { text: "Recommender model" }),
    h(
      "p",
      { class: "actions" },
      actionButton({ label: "Train now", id: "train-now", line, confirm: "Train the collaborative model on every stored rating now?", run: train }),
      actionButton({ label: "Roll back", id: "rollback", line, confirm: "Serve the previous model version again?", run: rollback }),
    ),
    line,
    models.length ? null : h("p", { id: "no-models", text: "No model trained yet: recommendations use content similarity and popularity until one is." }),
    h("h3", { text: "Training seconds per version" }),
    lineChart(ready.map((m, i) => ({ x: i, y: m.seconds ?? 0 })), { describe: "Training time of each ready model version, oldest first", unit: " s", id: "model-chart" }),
    h(
      "table",
      { class: "admin-table", id: "models" },
      h("thead", {}, h("tr", {}, ["Version", "Status", "Ratings", "Users", "Movies", "Seconds", "Peak MiB"].map((t) => h("th", { text: t })))),
      h(
        "tbody",
        {},
        models.map((m) =>
          h("tr", {}, h("td", { text: `#${m.id} ${m.method}${m.active ? " (serving)" : ""}${m.previous ? " (previous)" : ""}` }), h("td", { text: m.error ? `${m.status}: ${m.error}` : m.status }), h("td", { text: number(m.ratings) }), h("td", { text: number(m.users) }), h("td", { text: number(m.movies) }), h("td", { text: m.seconds == null ? "-" : m.seconds.toFixed(1) }), h("td", { text: m.peakRssMb == null ? "-" : m.peakRssMb.toFixed(0) })),
        ),
      ),
    ),
  );
}

const FIELDS = /** @type {const} */ (["title", "year", "director", "overview"]);

/** The movie editor: sends only the fields that changed, shows the API's error beside its field. */
function editor(/** @type {any} */ movie, /** @type {import("../main.js").Page} */ page) {
  const line = outcome("edit-outcome");
  const status = h("p", { id: "embedding-status" });
  const showStatus = (/** @type {any} */ m) => {
    status.textContent = m.embeddingCurrent ? `Embedded ${when(m.embeddedAt)}: current.` : m.hasEmbedding ? "Waiting for the worker to re-embed its new text (the old vector serves meanwhile)." : "Not embedded yet.";
    status.dataset.current = String(m.embeddingCurrent);
  };
  showStatus(movie);
  /** @type {Record<string, HTMLInputElement | HTMLTextAreaElement>} */
  const inputs = {};
  /** @type {Record<string, HTMLElement>} */
  const errors = {};
  const rows = FIELDS.map((name) => {
    const value = movie[name] == null ? "" : String(movie[name]);
    inputs[name] = /** @type {HTMLInputElement | HTMLTextAreaElement} */ (name === "overview" ? h("textarea", { id: `edit-${name}`, name, rows: "5" }) : h("input", { id: `edit-${name}`, name, type: name === "year" ? "number" : "text" }));
    inputs[name].value = value;
    errors[name] = h("span", { class: "field-error", id: `error-${name}`, role: "alert" });
    return h("label", { class: "field" }, h("span", { text: name[0].toUpperCase() + name.slice(1) }), inputs[name], errors[name]);
  });
  const save = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "button", id: "save-movie", text: "Save" }));
  const form = h("form", { class: "movie-editor", id: "movie-editor" }, rows, save, line, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (save.disabled) return;
    Object.values(errors).forEach((e) => (e.textContent = ""));
    /** @type {Record<string, unknown>} */
    const input = { id: movie.id };
    for (const name of FIELDS) {
      const before = movie[name] == null ? "" : String(movie[name]);
      const now = inputs[name].value;
      if (now === before) continue; // untouched fields are not sent, so they cannot be blanked
      input[name] = name === "year" ? (now.trim() ? Number(now) : null) : name === "director" && !now.trim() ? null : now;
    }
    const changed = FIELDS.filter((name) => name in input);
    if (!changed.length) return say(line, "ok", "Nothing changed.");
    save.disabled = true;
    say(line, "working", "Saving…");
    try {
      const { upsertMovie: saved } = await session.request(ADMIN_SAVE_MOVIE, { input });
      movie = saved;
      say(line, "ok", "Saved.");
      showStatus(saved);
      if (!saved.embeddingCurrent) {
        const done = await poll(async () => {
          const { movie: fresh } = await session.request(ADMIN_MOVIE, { id: saved.id });
          showStatus(fresh);
          return fresh && fresh.embeddingCurrent ? "re-embedded" : null;
        }, page.isCurrent);
        if (done === "re-embedded") say(line, "ok", "Saved and re-embedded.");
      }
    } catch (error) {
      // The field the message names, else the only field sent (a body over the size limit names none).
      const message = String(/** @type {any} */ (error).message || "").toLowerCase();
      const field = FIELDS.find((name) => message.includes(name)) ?? (changed.length === 1 ? changed[0] : undefined);
      if (field) errors[field].textContent = describe(error).body;
      sayError(line, error);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

function catalogueSection(/** @type {import("../main.js").Page} */ page) {
  const box = /** @type {HTMLInputElement} */ (h("input", { type: "search", id: "admin-find", placeholder: "Find a movie by title", maxlength: "200" }));
  const found = h("div", { id: "admin-found" });
  const editing = h("div", { id: "admin-editing" });
  const line = outcome("find-outcome");
  const form = h("form", { class: "search-form" }, box, h("button", { type: "submit", class: "button small", text: "Find" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!box.value.trim()) return;
    try {
      const { movies } = await session.request(ADMIN_FIND, { search: box.value });
      mount(
        found,
        movies.nodes.length
          ? h("ul", { class: "admin-list" }, movies.nodes.map((/** @type {any} */ m) => h("li", {}, h("button", { type: "button", class: "link", dataset: { movieId: m.id }, onClick: () => mount(editing, h("h3", { text: `Edit ${m.title}` }), editor(m, page)), text: `${m.title} (${m.year ?? "?"})` }))))
          : h("p", { text: "No movie has that title." }),
      );
      say(line, "ok", "");
    } catch (error) {
      sayError(line, error);
    }
  });
  return h("section", { class: "admin-section", id: "admin-catalogue" }, h("h2", { text: "Catalogue" }), form, line, found, editing);
}

/** @param {import("../main.js").Page} page */
export async function renderAdmin(page) {
  if (!session.isAdmin) {
    mount(
      page.root,
      notice({
        title: "The admin console needs an admin token",
        body: session.signedIn ? "You are signed in without admin rights. Sign in with a token from `movierec token --user N --admin`." : "Sign in with a token from `movierec token --user N --admin`.",
      }),
    );
    return;
  }
  mount(page.root, loading());
  try {
    const data = await session.request(ADMIN_OVERVIEW);
    if (!page.isCurrent()) return;
    mount(page.root, h("h1", { text: "Admin" }), healthSection(data.health), embeddingsSection(data, page), modelSection(data.recommenderModels, page), catalogueSection(page));
  } catch (error) {
    if (!page.isCurrent()) return;
    mount(page.root, failedNotice(error, page.reload));
  }
}
