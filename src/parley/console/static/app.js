// The console's shell: the key form, the navigation and the hash routes.
import { ApiError, BASE, forgetKey, get, hasKey, setKey, takeFragmentToken } from "./api.js";
import { projectView, projectsView, tableView } from "./data.js";
import { peerView, sessionView, workspaceView, workspacesView } from "./memory.js";
import { clear, errorBox, h } from "./ui.js";

takeFragmentToken();
const main = document.getElementById("main");
const keyArea = document.getElementById("key-area");
const serverLine = document.getElementById("server");

function renderKey() {
  if (hasKey()) {
    clear(keyArea, h("span", { class: "key-state" }, "Key set"), " ",
      h("button", { type: "button", id: "forget-key", onclick: () => { forgetKey(); renderKey(); route(); } }, "Forget key"));
    return;
  }
  const input = h("input", { type: "password", id: "key-input", name: "key", autocomplete: "off", "aria-label": "API key", placeholder: "API key (if auth is on)" });
  clear(keyArea, h("form", { id: "key-form", onsubmit: (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    setKey(input.value);
    input.value = "";
    renderKey();
    route();
  } }, input, h("button", { type: "submit" }, "Use key")));
}

const routes = [
  [/^#\/memory\/?$/, () => workspacesView(main)],
  [/^#\/memory\/([^/]+)\/peer\/([^/]+)$/, (w, p) => peerView(main, w, p)],
  [/^#\/memory\/([^/]+)\/session\/([^/]+)$/, (w, s) => sessionView(main, w, s)],
  [/^#\/memory\/([^/]+)$/, (w) => workspaceView(main, w)],
  [/^#\/data\/?$/, () => projectsView(main)],
  [/^#\/data\/([^/]+)\/table\/([^/]+)\/([^/]+)\/([^/]+)$/, (p, c, s, t) => tableView(main, p, c, s, t)],
  [/^#\/data\/([^/]+)\/(sql|agent|catalog)$/, (p, tab) => projectView(main, p, tab)],
  [/^#\/data\/([^/]+)$/, (p) => projectView(main, p)],
];

function route() {
  if (location.hash.startsWith("#token=")) {
    takeFragmentToken(); // a token handed in a link to an open console
    renderKey();
  }
  const hash = location.hash && location.hash !== "#/" ? location.hash : "#/memory";
  for (const a of document.querySelectorAll("header nav a")) {
    a.setAttribute("aria-current", hash.startsWith(a.getAttribute("href")) ? "page" : "false");
  }
  for (const [pattern, view] of routes) {
    const match = hash.match(pattern);
    if (match) {
      try {
        view(...match.slice(1).map(decodeURIComponent));
      } catch (err) {
        clear(main, errorBox(err));
      }
      main.focus({ preventScroll: true });
      return;
    }
  }
  clear(main, errorBox(new ApiError(404, `no page at ${hash}`)));
}

async function health() {
  try {
    const info = await get("/health");
    serverLine.textContent = `Parley ${info.version}${BASE ? ` at ${BASE}` : ""}`;
  } catch (err) {
    serverLine.textContent = `server: ${err.message}`;
  }
}

window.addEventListener("hashchange", route);
renderKey();
health();
route();
