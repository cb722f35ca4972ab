// How the app tells people what happened: the banner for failures, inline blocks for empty states.
import { h, mount } from "./dom.js";

/** @typedef {{label: string, run: () => void}} Action */

/** Words for an error code, so people see what to do rather than what broke. */
export function describe(/** @type {any} */ error) {
  switch (error && error.code) {
    case "NETWORK":
      return { title: "You're offline, or the server is down", body: error.message };
    case "UNAUTHENTICATED":
      return { title: "Your session has expired", body: "Sign in again to see your recommendations and rate movies." };
    case "FORBIDDEN":
      return { title: "Not allowed", body: error.message };
    case "UNAVAILABLE":
      return { title: "Not available right now", body: error.message };
    case "PAYLOAD_TOO_LARGE":
      return { title: "Too large to send", body: error.message };
    case "BAD_USER_INPUT":
    case "NOT_FOUND":
      return { title: "That didn't work", body: error.message };
    default:
      return { title: "Something went wrong", body: (error && error.message) || String(error) };
  }
}

/** Show the banner at the top of the page; `kind` is "error" or "info". */
export function showBanner(/** @type {any} */ error, /** @type {Action | null} */ action = null, kind = "error") {
  const banner = /** @type {HTMLElement} */ (document.getElementById("banner"));
  const { title, body } = describe(error);
  banner.dataset.kind = kind;
  banner.dataset.code = (error && error.code) || "";
  mount(
    banner,
    h("div", { class: "banner-text" }, h("strong", { text: title }), " ", h("span", { text: body })),
    action && h("button", { class: "button small", type: "button", onClick: action.run, text: action.label }),
    h("button", { class: "banner-close", type: "button", "aria-label": "Dismiss", onClick: hideBanner, text: "×" }),
  );
  banner.hidden = false;
}

export function hideBanner() {
  const banner = /** @type {HTMLElement} */ (document.getElementById("banner"));
  banner.hidden = true;
  banner.replaceChildren();
}

/** A centred message block for empty states and page-level errors. */
export function notice(/** @type {{title: string, body?: string, action?: Action | null, kind?: string}} */ options) {
  return h(
    "section",
    { class: `notice ${options.kind || ""}` },
    h("h2", { text: options.title }),
    options.body ? h("p", { text: options.body }) : null,
    options.action ? h("button", { class: "button", type: "button", onClick: options.action.run, text: options.action.label }) : null,
  );
}

/** A page-level failure: what happened, in words, and a Retry button. */
export function failedNotice(/** @type {unknown} */ error, /** @type {() => void} */ retry) {
  return notice({ ...describe(error), kind: "error", action: { label: "Retry", run: retry } });
}

/** A placeholder while a request runs. */
export function loading(/** @type {string} */ label = "Loading…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), label);
}
