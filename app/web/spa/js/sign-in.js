// Signing in: the account corner of the top bar and the dialog (a demo user, or a pasted token).
import { graphql } from "./graphql.js";
import { h, mount } from "./dom.js";
import { describe, hideBanner, loading } from "./feedback.js";
import { DEMO_USERS } from "./queries.js";
import { session } from "./session.js";

function dialog() {
  return /** @type {HTMLDialogElement} */ (document.getElementById("sign-in"));
}

/** The top bar's account corner: who is signed in, or a Sign in button. */
export function renderAccount() {
  const corner = /** @type {HTMLElement} */ (document.getElementById("account"));
  const admin = document.getElementById("admin-link");
  if (admin) admin.hidden = !session.isAdmin;
  if (session.viewer) {
    mount(
      corner,
      // Demo users' names carry a description in brackets; the top bar shows the name alone.
      h("span", { class: "who", title: `${session.viewer.name}, user ${session.viewer.id}` }, "Signed in as ", h("strong", { text: session.viewer.name.split(" (")[0] })),
      h("button", { type: "button", class: "button ghost small", onClick: () => session.signOut(), text: "Sign out" }),
    );
  } else {
    mount(corner, h("button", { type: "button", class: "button small", onClick: openSignIn, text: "Sign in" }));
  }
}

/** Open the sign-in dialog and load the demo users into it. */
export async function openSignIn() {
  const box = dialog();
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const fail = (/** @type {unknown} */ problem) => {
    const { title, body } = describe(problem);
    error.textContent = `${title}: ${body}`;
    error.hidden = false;
  };
  const finish = async (/** @type {() => Promise<void>} */ signIn) => {
    try {
      await signIn();
      hideBanner();
      box.close();
    } catch (problem) {
      fail(problem);
    }
  };
  const users = h("div", { class: "demo-users" }, loading("Loading demo users…"));
  const tokenInput = h("textarea", { id: "token-input", rows: "3", placeholder: "eyJhbGciOiJIUzI1NiIs…", spellcheck: "false" });
  mount(
    box,
    h(
      "form",
      { method: "dialog", class: "sign-in-form", onSubmit: (/** @type {Event} */ event) => {
        event.preventDefault();
        const value = /** @type {HTMLTextAreaElement} */ (tokenInput).value;
        if (value.trim()) finish(() => session.useToken(value));
      } },
      h("header", { class: "dialog-head" },
        h("h2", { id: "sign-in-title", text: "Sign in" }),
        h("button", { type: "button", class: "banner-close", "aria-label": "Close", onClick: () => box.close(), text: "×" })),
      h("p", { class: "muted", text: "Pick a demo user: each comes with a few ratings (Eve has none yet)." }),
      users,
      h("label", { for: "token-input", class: "label", text: "Or paste a token (from `movierec token --user N`)" }),
      tokenInput,
      error,
      h("div", { class: "dialog-actions" }, h("button", { type: "submit", class: "button", text: "Use this token" })),
    ),
  );
  if (!box.open) box.showModal();
  try {
    const data = await graphql(DEMO_USERS);
    if (!data.demoUsers.length) {
      mount(users, h("p", { class: "muted", text: "Demo sign-in is off on this server; paste a token instead." }));
      return;
    }
    mount(
      users,
      data.demoUsers.map((/** @type {{id: string, name: string, ratingCount: number}} */ user) =>
        h(
          "button",
          { type: "button", class: "demo-user", dataset: { userId: user.id }, onClick: () => finish(() => session.signInAsDemoUser(user.id)) },
          h("strong", { text: user.name }),
          h("span", { class: "muted", text: user.ratingCount === 1 ? "1 rating" : `${user.ratingCount} ratings` }),
        ),
      ),
    );
  } catch (problem) {
    mount(users);
    fail(problem);
  }
}
