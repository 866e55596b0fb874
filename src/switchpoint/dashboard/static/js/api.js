// The analytics API client. The master key (when the gateway has one) lives in sessionStorage
// only: it is sent as a bearer token to this same origin and forgotten when the tab closes.

const KEY = "switchpoint.key";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** GET ../v1/<path>?<params> (relative, so a path prefix in front of the gateway keeps working). */
export async function get(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, value);
  }
  const headers = {Accept: "application/json"};
  const secret = key.get();
  if (secret) headers.Authorization = "Bearer " + secret;
  const qs = query.toString();
  let response;
  try {
    response = await fetch("../v1/" + path + (qs ? "?" + qs : ""), {headers, cache: "no-store"});
  } catch (err) {
    throw new ApiError(0, "network", "The gateway cannot be reached.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || "http_" + response.status,
      error.message || "The gateway answered " + response.status + ".");
  }
  return body;
}
