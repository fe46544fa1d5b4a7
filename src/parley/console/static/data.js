// Data: projects → connections → catalogs → tables (columns, descriptions, sample rows,
// relations); SQL through the guard; the data agent's chat in threads. Peaka's /api/v1.
import { enc, get, post, stream } from "./api.js";
import { normalize, resultView } from "./result.js";
import { clear, dataTable, errorBox, h, into, lineForm, tabs, when } from "./ui.js";

const link = (href, text) => h("a", { href }, text);
const crumbs = (parts) => h("nav", { class: "crumbs", "aria-label": "breadcrumb" },
  parts.map(([text, href], i) => [i ? " › " : "", href ? link(href, text) : h("span", {}, text)]));

export function projectsView(main) {
  const list = h("div");
  clear(main, h("h1", {}, "Data: projects"), list);
  into(list, async () => {
    const projects = await get("/api/v1/projects");
    if (!projects.length) return h("p", { class: "muted" }, "No projects yet.");
    return h("ul", { class: "cards projects" }, projects.map((p) =>
      h("li", {}, link(`#/data/${enc(p.id)}`, p.name || p.id), p.description ? h("p", { class: "muted" }, p.description) : null)));
  });
}

export function projectView(main, project, tab = "catalog") {
  const panel = h("div", { class: "panel" });
  const t = tabs([
    { id: "catalog", label: "Catalog", render: (p) => p.append(catalogView(project)) },
    { id: "sql", label: "SQL", render: (p) => p.append(sqlView(project)) },
    { id: "agent", label: "Agent", render: (p) => p.append(agentView(project)) },
  ], panel);
  clear(main, crumbs([["Data", "#/data"], [project]]), h("h1", {}, `Project ${project}`), t.bar, panel);
  t.show(tab);
}

function catalogView(project) {
  const box = h("div", { class: "catalog" });
  into(box, async () => {
    const [connections, catalogs] = await Promise.all([
      get(`/api/v1/connections/${enc(project)}`),
      get(`/api/v1/data/projects/${enc(project)}/catalogs`),
    ]);
    const sections = [h("h2", {}, "Connections"),
      connections.length
        ? dataTable(["name", "type", "id"], connections.map((c) => [c.name, c.type, c.id]))
        : h("p", { class: "muted" }, "No connections.")];
    sections.push(h("h2", {}, "Catalogs"));
    for (const c of catalogs) {
      const tables = h("div");
      sections.push(h("section", { class: "catalog-entry" }, h("h3", {}, `${c.displayName || c.name} `, h("span", { class: "muted" }, c.catalogType)), tables));
      into(tables, async () => {
        const schemas = await get(`/api/v1/data/projects/${enc(project)}/catalogs/${enc(c.id)}/schemas`);
        const parts = [];
        for (const s of schemas) {
          const list = await get(`/api/v1/data/projects/${enc(project)}/catalogs/${enc(c.id)}/schemas/${enc(s.schemaName)}/tables`);
          parts.push(h("h4", {}, `schema ${s.schemaName}`), h("ul", { class: "cards tables" }, list.map((t) =>
            h("li", {}, link(`#/data/${enc(project)}/table/${enc(c.id)}/${enc(s.schemaName)}/${enc(t.tableName)}`, t.tableName)))));
        }
        return parts;
      });
    }
    if (!catalogs.length) sections.push(h("p", { class: "muted" }, "No catalogs."));
    return sections;
  });
  return box;
}

export function tableView(main, project, catalogId, schema, table) {
  const box = h("div");
  clear(main, crumbs([["Data", "#/data"], [project, `#/data/${enc(project)}`], [`${schema}.${table}`]]), h("h1", {}, `Table ${table}`), box);
  into(box, async () => {
    const base = `/api/v1/data/projects/${enc(project)}/catalogs/${enc(catalogId)}/schemas/${enc(schema)}/tables/${enc(table)}`;
    const [columns, metadata, relations] = await Promise.all([
      get(`${base}/columns`),
      get(`/api/v1/metadata/${enc(project)}`),
      get(`/api/v1/metadata/${enc(project)}/relations/${enc(catalogId)}`),
    ]);
    const meta = metadata.catalogs.find((c) => c.catalogId === catalogId)
      ?.schemas.find((s) => s.schemaName === schema)?.tables.find((t) => t.tableName === table);
    const mine = (relations.relations || []).filter((r) =>
      (r.tableName === table && r.schemaName === schema) || (r.targetTableName === table && r.targetSchemaName === schema));
    const samples = meta?.sampleRows || [];
    const sampleColumns = samples.length ? Object.keys(samples[0]) : [];
    return [
      meta?.tableDescription ? h("p", { class: "description" }, meta.tableDescription) : null,
      meta?.rowCount !== undefined && meta?.rowCount !== null ? h("p", { class: "muted" }, `${meta.rowCount} rows`) : null,
      h("h2", {}, "Columns"),
      dataTable(["name", "type", "primary", "not null", "description"],
        columns.map((c) => [c.name, c.dataType, c.isPrimary ? "yes" : "", c.isNotNull ? "yes" : "", c.desc ?? ""])),
      h("h2", {}, "Relations"),
      mine.length
        ? dataTable(["from", "to", "type", "origin"], mine.map((r) =>
          [`${r.tableName}.${r.columnName}`, `${r.targetTableName}.${r.targetColumnName}`, r.type, r.origin ?? ""]))
        : h("p", { class: "muted" }, "No relations."),
      h("h2", {}, "Sample rows"),
      samples.length ? dataTable(sampleColumns, samples.map((r) => sampleColumns.map((k) => r[k]))) : h("p", { class: "muted" }, "No sample rows."),
    ];
  });
}

function sqlView(project) {
  const out = h("div", { class: "sql-result", "aria-live": "polite" });
  const text = h("textarea", { name: "statement", rows: 6, "aria-label": "SQL statement", spellcheck: "false",
    placeholder: "SELECT … (Ctrl+Enter runs it)" });
  const form = h("form", { class: "sql", onsubmit: (e) => { e.preventDefault(); run(); } },
    h("label", {}, "SQL (one read-only statement; it goes through the guard)", text),
    h("div", {}, h("button", { type: "submit" }, "Run"), h("span", { class: "muted" }, " Ctrl+Enter")));
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
  });
  function run() {
    const statement = text.value.trim();
    if (!statement) return;
    into(out, async () => {
      const answer = await post(`/api/v1/data/projects/${enc(project)}/queries/execute`, { statement });
      return resultView(normalize(answer), { name: `${project}-query` });
    });
  }
  return h("div", {}, form, out);
}

// --- the agent ---------------------------------------------------------------------------

function turnView(question, result, answerText) {
  const out = h("article", { class: "turn" });
  out.append(h("div", { class: "question" }, h("strong", {}, "You: "), question));
  const answer = h("div", { class: "answer" }, h("strong", {}, "Agent: "), h("span", { class: "text" }, answerText || ""));
  out.append(answer);
  if (result) fillTurn(out, result);
  return out;
}

function answerOf(result) {
  const messages = result.messages || [];
  const last = messages[messages.length - 1];
  return last?.kwargs?.content ?? "";
}

function fillTurn(out, result) {
  const text = out.querySelector(".answer .text");
  if (text && !text.textContent) text.textContent = answerOf(result);
  if (result.currentGeneratedQuery) {
    out.append(h("details", { class: "sql-used", open: true }, h("summary", {}, "SQL"), h("pre", { class: "sql-text" }, result.currentGeneratedQuery)));
  }
  if (result.currentQueryError) out.append(errorBox({ message: result.currentQueryError, code: "QUERY_ERROR" }));
  const rows = normalize(result.currentQueryResult);
  if (rows && rows.columns.length) out.append(resultView(rows, { name: "agent-result" }));
}

function agentView(project) {
  const threads = h("ul", { class: "threads" });
  const conversation = h("div", { class: "conversation", "aria-live": "polite" });
  let threadId = null;
  const base = `/api/v1/ai-agent/${enc(project)}`;
  async function loadThreads() {
    try {
      const data = await get(`${base}/threads`);
      clear(threads, h("li", {}, h("button", { type: "button", class: "new-thread", onclick: () => { threadId = null; clear(conversation); input.focus(); } }, "+ New thread")),
        data.threads.map((t) => h("li", {}, h("button", { type: "button", class: t.threadId === threadId ? "current" : "", onclick: () => open(t.threadId) },
          t.displayName || t.threadId.slice(0, 8), h("span", { class: "muted" }, ` ${when(t.updatedAt)}`)))));
    } catch (err) {
      clear(threads, h("li", {}, errorBox(err)));
    }
  }
  async function open(id) {
    threadId = id;
    await into(conversation, async () => {
      const data = await get(`${base}/threads/${enc(id)}`);
      return (data.turns || []).map((t) => turnView(t.question, t.result, t.answer));
    });
    loadThreads();
  }
  const input = h("input", { type: "text", name: "message", "aria-label": "Ask the data agent", placeholder: "Which five customers spent the most in 2024?", required: true });
  const form = h("form", { class: "line agent-ask", onsubmit: (e) => { e.preventDefault(); ask(input.value.trim()); } },
    h("label", {}, "Ask ", input), h("button", { type: "submit" }, "Send"));
  async function ask(message) {
    if (!message) return;
    input.value = "";
    const turn = turnView(message, null, "");
    turn.classList.add("pending");
    conversation.append(turn);
    const text = turn.querySelector(".answer .text");
    const step = h("div", { class: "step muted", "aria-live": "polite" });
    turn.append(step);
    const body = { message, streamModes: ["messages", "updates"] };
    const before = threadId; // a failed first turn stores no thread: the next ask starts anew
    if (threadId) body.threadId = threadId;
    try {
      for await (const { event, data } of stream(`${base}/chat/stream`, body)) {
        if (event === "metadata") threadId = data.threadId;
        else if (event === "messages") text.append(data.message?.kwargs?.content ?? "");
        else if (event === "updates") {
          turn.dataset.step = Object.keys(data)[0];
          step.textContent = `step: ${turn.dataset.step}`;
        }
        else if (event === "error") throw Object.assign(new Error(data.message), { code: data.errorCode });
        else if (event === "end") {
          threadId = data.threadId;
          text.textContent = answerOf(data.result);
          fillTurn(turn, data.result);
        }
      }
    } catch (err) {
      threadId = before;
      turn.append(errorBox(err));
    }
    step.remove();
    turn.classList.remove("pending");
    turn.classList.add("done");
    loadThreads();
  }
  loadThreads();
  return h("div", { class: "agent" }, h("aside", { class: "thread-list", "aria-label": "threads" }, threads),
    h("div", { class: "chat-main" }, conversation, form));
}
