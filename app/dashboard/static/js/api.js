// The one door to the server: GraphQL over HTTP POST. Errors come back as ApiError with the
// server's extensions.code and param, so pages can show them where they belong. The session
// cookie goes along by itself (same origin); a 401 (the session expired, or its token was
// revoked) is announced as the window event "cq:unauthenticated".

const ENDPOINT = new URL("../graphql", document.baseURI).href;

export class ApiError extends Error {
  constructor(message, { code = "ERROR", param = null, errors = [] } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.param = param;
    this.errors = errors;
  }
}

/** Run a query or mutation; resolves to its data, rejects with ApiError. A mutation that
 * succeeded is announced as the window event "cq:mutated", so every view looks again. */
export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new ApiError(`The server cannot be reached (${err.message}).`, { code: "NETWORK" });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered HTTP ${response.status} without JSON.`, {
      code: `HTTP_${response.status}`,
    });
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("cq:unauthenticated"));
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    throw new ApiError(first.message, {
      code: ext.code || "GRAPHQL_ERROR",
      param: ext.param || null,
      errors: body.errors,
    });
  }
  if (!response.ok) {
    throw new ApiError(`The server answered HTTP ${response.status}.`, {
      code: `HTTP_${response.status}`,
    });
  }
  if (/^\s*mutation\b/.test(query)) window.dispatchEvent(new CustomEvent("cq:mutated"));
  return body.data;
}
