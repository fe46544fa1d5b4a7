// The console's one way to the server: the public APIs, with the key the person gave (or none).
const KEY = "parley.console.key";

// where Parley is mounted: the console lives at <base>/console/
export const BASE = location.pathname.replace(/\/console(\/.*)?$/, "");

/** A `#token=...` fragment (from /ui/initSession) becomes the key and is dropped from the URL;
 * an `&page=/data/<project>` after it is the page to open (the session's project). */
export function takeFragmentToken() {
  const match = location.hash.match(/^#token=([^&]+)(?:&page=([^&]*))?/);
  if (match) {
    sessionStorage.setItem(KEY, decodeURIComponent(match[1]));
    const page = match[2] ? decodeURIComponent(match[2]) : "/";
    const to = page.startsWith("/") ? page : "/"; // a route of this console, nothing else
    history.replaceState(null, "", location.pathname + location.search + "#" + to);
  }
}

export const hasKey = () => Boolean(sessionStorage.getItem(KEY));
export const setKey = (key) => sessionStorage.setItem(KEY, key.trim());
export const forgetKey = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code || null;
  }
}

/** The family's error message: Peaka's `message`, Honcho's `detail` (a text or a list). */
export function errorMessage(status, body) {
  if (body && typeof body === "object") {
    if (typeof body.message === "string") return body.message;
    const detail = body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((e) => (Array.isArray(e.loc) ? `${e.loc.join(".")}: ` : "") + (e.msg ?? JSON.stringify(e)))
        .join("; ");
    }
  }
  if (typeof body === "string" && body) return body.slice(0, 500);
  return `HTTP ${status}`;
}

function headers(json, accept = "application/json") {
  const out = { Accept: accept };
  const key = sessionStorage.getItem(KEY);
  if (key) out.Authorization = `Bearer ${key}`;
  if (json) out["Content-Type"] = "application/json";
  return out;
}

async function send(method, path, body, accept) {
  try {
    return await fetch(BASE + path, {
      method,
      headers: headers(body !== undefined, accept),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `the server could not be reached (${err.message})`);
  }
}

async function failure(response) {
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the text itself is the message
  }
  return new ApiError(response.status, errorMessage(response.status, data), data?.errorCode);
}

export async function api(method, path, body) {
  const response = await send(method, path, body);
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);

/** POST and read server-sent events: yields {event, data} (data parsed as JSON). */
export async function* stream(path, body) {
  const response = await send("POST", path, body, "text/event-stream");
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

export const enc = encodeURIComponent;
