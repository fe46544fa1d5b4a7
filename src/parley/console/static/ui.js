// Small DOM helpers: elements (text always as text, never as HTML), errors, tables, paging, CSV.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An API error as the person sees it: the status and the server's own message. */
export function errorBox(err) {
  const head = [err?.status, err?.code].filter(Boolean).join(" ") || "Error";
  return h("div", { class: "error", role: "alert" }, h("strong", {}, head), " ", err?.message ?? String(err));
}

/** Runs `load` into `target`: a loading line, then what it returns, or the error. */
export async function into(target, load) {
  clear(target, h("p", { class: "muted" }, "Loading…"));
  try {
    clear(target, await load());
  } catch (err) {
    clear(target, errorBox(err));
  }
}

export function cell(value) {
  if (value === null || value === undefined) return h("span", { class: "null" }, "null");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** A table whose headers sort it (click or Enter/Space on the header button). */
export function dataTable(columns, rows, { caption } = {}) {
  let order = rows.map((_, i) => i);
  let sortBy = -1;
  let descending = false;
  const body = h("tbody");
  const heads = columns.map((name, index) =>
    h("th", { scope: "col" },
      h("button", { type: "button", class: "sort", onclick: () => sort(index) }, name)),
  );
  function sort(index) {
    descending = sortBy === index ? !descending : false;
    sortBy = index;
    order = rows.map((_, i) => i).sort((a, b) => compare(rows[a][index], rows[b][index]) * (descending ? -1 : 1));
    heads.forEach((th, i) => th.setAttribute("aria-sort", i === sortBy ? (descending ? "descending" : "ascending") : "none"));
    fill();
  }
  function fill() {
    clear(body, order.map((i) => h("tr", {}, rows[i].map((v) => h("td", {}, cell(v))))));
  }
  fill();
  return h("div", { class: "table-wrap" },
    h("table", { class: "data" }, caption ? h("caption", {}, caption) : null, h("thead", {}, h("tr", {}, heads)), body));
}

export function toCsv(columns, rows) {
  const quote = (v) => {
    if (v === null || v === undefined) return "";
    const text = typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns, ...rows].map((row) => row.map(quote).join(",")).join("\r\n") + "\r\n";
}

export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Previous/next for a Honcho page ({page, pages, total}). */
export function pager(page, onPage) {
  return h("nav", { class: "pager", "aria-label": "pages" },
    h("button", { type: "button", disabled: page.page <= 1, onclick: () => onPage(page.page - 1) }, "‹ Previous"),
    h("span", {}, ` page ${page.page} of ${Math.max(page.pages, 1)} (${page.total} in all) `),
    h("button", { type: "button", disabled: page.page >= page.pages, onclick: () => onPage(page.page + 1) }, "Next ›"),
  );
}

/** A one-line form: Enter submits. */
export function lineForm({ label, placeholder = "", button, onsubmit, name = "q", value = "" }) {
  const input = h("input", { type: "text", name, placeholder, value, "aria-label": label, required: true });
  const form = h("form", { class: "line", onsubmit: (e) => { e.preventDefault(); onsubmit(input.value.trim(), input); } },
    h("label", {}, label, " ", input), h("button", { type: "submit" }, button));
  return form;
}

export function tabs(items, target) {
  // items: [{id, label, render}] ; render(target) fills the panel
  const bar = h("div", { class: "tabs", role: "tablist" });
  const buttons = items.map((item) =>
    h("button", { type: "button", role: "tab", id: `tab-${item.id}`, "aria-selected": "false", onclick: () => show(item) }, item.label));
  bar.append(...buttons);
  function show(item) {
    buttons.forEach((b, i) => b.setAttribute("aria-selected", items[i] === item ? "true" : "false"));
    clear(target);
    item.render(target);
  }
  return { bar, show: (id) => show(items.find((i) => i.id === id) || items[0]) };
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
