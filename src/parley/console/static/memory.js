// Memory: workspaces → peers → sessions → messages, a peer's observations and card, session
// summaries, the queue, search at each scope, and chat with a peer (streamed). Honcho's /v2.
import { enc, get, post, stream } from "./api.js";
import { clear, dataTable, errorBox, h, into, lineForm, pager, tabs, when } from "./ui.js";

const ws = (w) => `/v2/workspaces/${enc(w)}`;
const link = (href, text) => h("a", { href }, text);

/** A paged Honcho list: POST `path`?page=&size= with `body`; rows drawn by `draw(items)`. */
function pagedList(path, body, draw, size = 20) {
  const box = h("div", { class: "paged" });
  async function load(page) {
    await into(box, async () => {
      const sep = path.includes("?") ? "&" : "?";
      const data = await post(`${path}${sep}page=${page}&size=${size}`, body);
      if (data.items.length === 0) return h("p", { class: "muted" }, "None yet.");
      return [draw(data.items), data.pages > 1 ? pager(data, load) : null];
    });
  }
  load(1);
  return box;
}

function messageList(messages) {
  return h("ol", { class: "messages" }, messages.map((m) =>
    h("li", { class: "message", id: `m-${m.id}` },
      h("div", { class: "meta" }, h("strong", {}, m.peer_id), " · ", when(m.created_at),
        m.session_id ? [" · ", h("span", { class: "muted" }, `session ${m.session_id}`)] : null),
      h("div", { class: "content" }, m.content))));
}

function searchBox(path, label) {
  const out = h("div", { class: "search-results", "aria-live": "polite" });
  const form = lineForm({
    label, placeholder: "words or a question", button: "Search",
    onsubmit: (query) => into(out, async () => {
      const found = await post(path, { query, limit: 20 });
      return found.length ? messageList(found) : h("p", { class: "muted" }, "No messages match.");
    }),
  });
  return h("section", { class: "search" }, form, out);
}

export function workspacesView(main) {
  const list = pagedList("/v2/workspaces/list", {}, (items) =>
    h("ul", { class: "cards" }, items.map((w) => h("li", {}, link(`#/memory/${enc(w.id)}`, w.id), h("span", { class: "muted" }, ` created ${when(w.created_at)}`)))));
  clear(main,
    h("h1", {}, "Memory: workspaces"),
    lineForm({ label: "Open a workspace by id", button: "Open", name: "workspace", onsubmit: (id) => { location.hash = `#/memory/${enc(id)}`; } }),
    list);
}

export function workspaceView(main, w) {
  const panel = h("div", { class: "panel" });
  const t = tabs([
    { id: "peers", label: "Peers", render: (p) => p.append(pagedList(`${ws(w)}/peers/list`, {}, (items) =>
      h("ul", { class: "cards peers" }, items.map((x) => h("li", {}, link(`#/memory/${enc(w)}/peer/${enc(x.id)}`, x.id)))))) },
    { id: "sessions", label: "Sessions", render: (p) => p.append(pagedList(`${ws(w)}/sessions/list`, {}, (items) =>
      h("ul", { class: "cards sessions" }, items.map((s) => h("li", {}, link(`#/memory/${enc(w)}/session/${enc(s.id)}`, s.id),
        h("span", { class: "muted" }, ` ${s.is_active ? "active" : "inactive"} · ${when(s.created_at)}`)))))) },
    { id: "search", label: "Search", render: (p) => p.append(searchBox(`${ws(w)}/search`, "Search this workspace's messages")) },
    { id: "queue", label: "Queue", render: (p) => p.append(queueView(w)) },
  ], panel);
  clear(main, crumbs([["Memory", "#/memory"], [w]]), h("h1", {}, `Workspace ${w}`), t.bar, panel);
  t.show("peers");
}

function crumbs(parts) {
  return h("nav", { class: "crumbs", "aria-label": "breadcrumb" },
    parts.map(([text, href], i) => [i ? " › " : "", href ? link(href, text) : h("span", {}, text)]));
}

function queueView(w) {
  const box = h("div", { class: "queue" });
  into(box, async () => {
    const q = await get(`${ws(w)}/queue/status`);
    const counts = [["total", q.total_work_units], ["completed", q.completed_work_units], ["in progress", q.in_progress_work_units],
      ["pending", q.pending_work_units], ["failed", q.failed_work_units ?? 0], ["embedding backlog", q.embedding_backlog ?? 0]];
    return [
      h("dl", { class: "counts" }, counts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v ?? 0))])),
      q.reasoning_mode ? h("p", {}, `Reasoning: ${q.reasoning_mode}`) : null,
      (q.notes || []).map((n) => h("p", { class: "note" }, n)),
      h("h2", {}, "Failed items"),
      q.failures && q.failures.length
        ? dataTable(["task", "session", "sender", "observer", "attempts", "error", "failed at"],
          q.failures.map((f) => [f.task_type, f.session_id, f.sender_id, f.observer_id, f.attempts, f.error, when(f.failed_at)]))
        : h("p", { class: "muted" }, "No failed items."),
    ];
  });
  return box;
}

function observationItem(o, byId, w) {
  return h("li", { class: `observation ${o.level}` },
    h("span", { class: `level level-${o.level}` }, o.level), " ", h("span", { class: "content" }, o.content),
    h("div", { class: "meta" }, `observer ${o.observer_id} · ${when(o.created_at)}`,
      o.session_id ? [" · session ", o.session_id] : null,
      o.superseded_by ? " · superseded" : null),
    o.premises && o.premises.length
      ? h("div", { class: "premises" }, h("span", { class: "muted" }, "premises: "),
        h("ul", {}, o.premises.map((p) => h("li", {}, byId.get(p)?.content ?? p))))
      : null,
    o.message_ids && o.message_ids.length
      ? h("div", { class: "sources" }, h("span", { class: "muted" }, "from messages: "),
        o.message_ids.map((m, i) => [i ? ", " : "", o.session_id ? link(`#/memory/${enc(w)}/session/${enc(o.session_id)}`, m) : m]))
      : null);
}

function observationsView(w, peer) {
  const box = h("div", { class: "observations" });
  const level = h("select", { "aria-label": "level", onchange: () => load() },
    h("option", { value: "" }, "all levels"), h("option", { value: "explicit" }, "explicit"), h("option", { value: "deductive" }, "deductive"));
  const list = h("div");
  function load() {
    const filters = { observed_id: peer };
    if (level.value) filters.level = level.value;
    clear(list, pagedList(`${ws(w)}/observations/list`, { filters }, (items) => {
      const byId = new Map(items.map((o) => [o.id, o]));
      return h("ul", { class: "observation-list" }, items.map((o) => observationItem(o, byId, w)));
    }));
  }
  box.append(h("label", {}, "Show ", level), list);
  load();
  return box;
}

function cardView(w, peer) {
  const box = h("div", { class: "peer-card" });
  into(box, async () => {
    const card = await get(`${ws(w)}/peers/${enc(peer)}/card`);
    return card.peer_card && card.peer_card.length
      ? h("ul", {}, card.peer_card.map((line) => h("li", {}, line)))
      : h("p", { class: "muted" }, "No peer card yet.");
  });
  return box;
}

function chatView(w, peer) {
  const answer = h("div", { class: "chat-answer", "aria-live": "polite" });
  const asker = h("select", { "aria-label": "ask as peer", name: "asker" }, h("option", { value: "" }, `${peer} (itself)`));
  post(`${ws(w)}/peers/list?page=1&size=100`, {}).then((page) => {
    for (const p of page.items) if (p.id !== peer) asker.append(h("option", { value: p.id }, p.id));
  }, () => {});
  const form = lineForm({
    label: `Ask about ${peer}`, placeholder: "What does this peer like?", button: "Ask", name: "query",
    onsubmit: async (query) => {
      const as = asker.value;
      const path = `${ws(w)}/peers/${enc(as || peer)}/chat`;
      const body = { query, stream: true };
      if (as) body.target = peer;
      const text = h("div", { class: "content streaming" });
      clear(answer, text);
      try {
        for await (const { data } of stream(path, body)) {
          if (data.delta && data.delta.content) text.append(data.delta.content);
          if (data.error) throw new Error(data.error.message ?? JSON.stringify(data.error));
          if (data.done) break;
        }
      } catch (err) {
        answer.append(errorBox(err));
      }
      text.classList.remove("streaming");
    },
  });
  return h("section", { class: "chat" }, h("label", {}, "As ", asker), form, answer);
}

export function peerView(main, w, peer) {
  const panel = h("div", { class: "panel" });
  const t = tabs([
    { id: "observations", label: "Observations", render: (p) => p.append(observationsView(w, peer)) },
    { id: "card", label: "Peer card", render: (p) => p.append(cardView(w, peer)) },
    { id: "sessions", label: "Sessions", render: (p) => p.append(pagedList(`${ws(w)}/peers/${enc(peer)}/sessions`, {}, (items) =>
      h("ul", { class: "cards" }, items.map((s) => h("li", {}, link(`#/memory/${enc(w)}/session/${enc(s.id)}`, s.id)))))) },
    { id: "search", label: "Search", render: (p) => p.append(searchBox(`${ws(w)}/peers/${enc(peer)}/search`, `Search ${peer}'s messages`)) },
    { id: "chat", label: "Chat", render: (p) => p.append(chatView(w, peer)) },
  ], panel);
  clear(main, crumbs([["Memory", "#/memory"], [w, `#/memory/${enc(w)}`], [`peer ${peer}`]]), h("h1", {}, `Peer ${peer}`), t.bar, panel);
  t.show("observations");
}

function summariesView(w, s) {
  const box = h("div", { class: "summaries" });
  into(box, async () => {
    const data = await get(`${ws(w)}/sessions/${enc(s)}/summaries`);
    const one = (title, sum) => h("section", {}, h("h3", {}, title),
      sum ? [h("p", {}, sum.content), h("p", { class: "muted" }, `up to message ${sum.message_id} · ${when(sum.created_at)}`)] : h("p", { class: "muted" }, "None yet."));
    return [one("Short summary", data.short_summary), one("Long summary", data.long_summary)];
  });
  return box;
}

export function sessionView(main, w, s) {
  const panel = h("div", { class: "panel" });
  const t = tabs([
    { id: "messages", label: "Messages", render: (p) => p.append(pagedList(`${ws(w)}/sessions/${enc(s)}/messages/list`, {}, messageList, 25)) },
    { id: "summaries", label: "Summaries", render: (p) => p.append(summariesView(w, s)) },
    { id: "search", label: "Search", render: (p) => p.append(searchBox(`${ws(w)}/sessions/${enc(s)}/search`, "Search this session")) },
  ], panel);
  clear(main, crumbs([["Memory", "#/memory"], [w, `#/memory/${enc(w)}`], [`session ${s}`]]), h("h1", {}, `Session ${s}`), t.bar, panel);
  t.show("messages");
}

