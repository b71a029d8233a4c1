// Who is signed in and what they may do. The session itself is an HttpOnly cookie the server
// sets: no script here ever sees it, nor keeps the token typed into the sign-in form.

import { ApiError } from "./api.js";

const ENDPOINT = new URL("session", document.baseURI).href;

// {auth: false} while the server has no tokens; else {auth: true, name, roles}.
let current = { auth: false };

async function call(method, body) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new ApiError(`The server cannot be reached (${err.message}).`, { code: "NETWORK" });
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = answer.error || {};
    throw new ApiError(error.message || `The server answered HTTP ${response.status}.`, {
      code: error.code || `HTTP_${response.status}`,
      param: error.param || null,
    });
  }
  return answer;
}

/** The session, or null when auth is on and this browser is not signed in. */
export async function loadSession() {
  try {
    current = await call("GET");
  } catch (err) {
    if (err.code === "UNAUTHENTICATED") return null;
    throw err;
  }
  return current;
}

export function session() {
  return current;
}

/** Whether the actions (pause, retry, delete, settings…) are this user's to take: admins'
 * only, or everyone's while the server has no tokens. */
export function canAct() {
  return !current.auth || current.roles.includes("admin");
}

export function signIn(token) {
  return call("POST", { token });
}

export function signOut() {
  return call("DELETE");
}
