// Who is signed in: the token (kept in localStorage), the viewer and their ratings.
// Events: "change" when someone signs in or out (detail.reason: "signed-in", "signed-out",
// "expired"), "ratings" when the viewer's ratings change.
import { ApiError, graphql } from "./graphql.js";
import { RATE_MOVIE, REMOVE_RATING, SIGN_IN_AS_DEMO_USER, VIEWER } from "./queries.js";

// GraphiQL's page (app/web/graphiql/graphiql-page.js) reads the same key.
const TOKEN_KEY = "movierec.token";

/** @typedef {{movieId: string, rating: number, ratedAt: string, movie: {id: string, title: string, year: number | null} | null}} Rating */
/** @typedef {{id: string, name: string, ratings: Rating[]}} Viewer */

function readToken() {
  try {
    return window.localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function writeToken(/** @type {string | null} */ token) {
  try {
    if (token) window.localStorage.setItem(TOKEN_KEY, token);
    else window.localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the session lasts until the page closes.
  }
}

class Session extends EventTarget {
  constructor() {
    super();
    /** @type {string | null} */
    this.token = readToken();
    /** @type {Viewer | null} */
    this.viewer = null;
  }

  get signedIn() {
    return this.viewer !== null;
  }

  /** Whether the token says admin. Only decides what the app shows: the server checks every admin call. */
  get isAdmin() {
    if (!this.token || !this.viewer) return false;
    try {
      const payload = this.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload)).admin === true;
    } catch {
      return false;
    }
  }

  /** Run an operation as the viewer; a rejected token signs out with reason "expired". */
  async request(/** @type {string} */ query, /** @type {Record<string, unknown>} */ variables = {}) {
    try {
      return await graphql(query, variables, this.token);
    } catch (error) {
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED" && this.token) this.signOut("expired");
      throw error;
    }
  }

  /** Load the viewer for the stored token, if there is one. */
  async restore() {
    if (!this.token) return;
    const data = await this.request(VIEWER);
    if (!data.viewer) {
      this.signOut("expired"); // a valid token for a user this server no longer has
      return;
    }
    this.viewer = data.viewer;
    this.#emit("change", "signed-in");
  }

  /** Sign in as one of the server's demo users. */
  async signInAsDemoUser(/** @type {string} */ userId) {
    const data = await graphql(SIGN_IN_AS_DEMO_USER, { userId });
    await this.useToken(data.signInAsDemoUser.token);
  }

  /** Sign in with a token from `movierec token` (checked against the server first). */
  async useToken(/** @type {string} */ token) {
    const data = await graphql(VIEWER, {}, token.trim());
    if (!data.viewer) throw new ApiError("That token's user does not exist on this server.", "NOT_FOUND");
    this.token = token.trim();
    writeToken(this.token);
    this.viewer = data.viewer;
    this.#emit("change", "signed-in");
  }

  signOut(/** @type {"signed-out" | "expired"} */ reason = "signed-out") {
    this.token = null;
    this.viewer = null;
    writeToken(null);
    this.#emit("change", reason);
  }

  /** The viewer's rating of a movie, or null. */
  ratingOf(/** @type {string} */ movieId) {
    const found = this.viewer && this.viewer.ratings.find((r) => r.movieId === movieId);
    return found ? found.rating : null;
  }

  async rate(/** @type {string} */ movieId, /** @type {number} */ rating) {
    const data = await this.request(RATE_MOVIE, { movieId, rating });
    if (!this.viewer) return;
    this.viewer.ratings = [data.rateMovie, ...this.viewer.ratings.filter((r) => r.movieId !== movieId)];
    this.#emit("ratings", "rated");
  }

  async removeRating(/** @type {string} */ movieId) {
    await this.request(REMOVE_RATING, { movieId });
    if (!this.viewer) return;
    this.viewer.ratings = this.viewer.ratings.filter((r) => r.movieId !== movieId);
    this.#emit("ratings", "removed");
  }

  #emit(/** @type {string} */ type, /** @type {string} */ reason) {
    this.dispatchEvent(new CustomEvent(type, { detail: { reason } }));
  }
}

/** The page's one session. */
export const session = new Session();
