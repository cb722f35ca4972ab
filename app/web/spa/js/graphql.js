// The one way the app talks to the server: POST /graphql, errors turned into ApiError with a code.

/** An error to show the user, with the server's stable `extensions.code` (or NETWORK / BAD_RESPONSE). */
export class ApiError extends Error {
  /** @param {string} message @param {string} code */
  constructor(message, code) {
    super(message);
    this.name = "ApiError";
    this.code = code;
  }
}

/**
 * Run one GraphQL operation and return its data.
 * @param {string} query
 * @param {Record<string, unknown>} [variables]
 * @param {string | null} [token]
 * @returns {Promise<any>}
 */
export async function graphql(query, variables = {}, token = null) {
  /** @type {Record<string, string>} */
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError("Can't reach the movierec server. Check your connection or that the server is running, then retry.", "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText} instead of a GraphQL response.`, "BAD_RESPONSE");
  }
  if (body.errors && body.errors.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, (first.extensions && first.extensions.code) || "UNKNOWN");
  }
  return body.data;
}
