// A query result: a sortable table, a chart chosen from its shape (switchable), CSV export.
import { chooseChart, renderChart } from "./chart.js";
import { clear, dataTable, download, h, toCsv } from "./ui.js";

/** Peaka's /queries/execute answer ({columns: [{columnName, dataType}], data: [[{value}]]}) or
 * the agent's currentQueryResult ({columns: [{name, type}], rows}) as {columns, rows}. */
export function normalize(answer) {
  if (!answer) return null;
  if (Array.isArray(answer.rows)) {
    return { columns: answer.columns.map((c) => ({ name: c.name, type: c.type })), rows: answer.rows, truncated: answer.truncated };
  }
  return {
    columns: (answer.columns || []).map((c) => ({ name: c.columnName ?? c.name, type: c.dataType ?? c.type })),
    rows: (answer.data || []).map((row) => row.map((c) => c.value)),
  };
}

export function resultView(result, { name = "result" } = {}) {
  const names = result.columns.map((c) => c.name);
  const fits = chooseChart(result);
  const chart = h("div", { class: "chart-panel" });
  const view = h("div", { class: "result", "data-rows": result.rows.length });
  const buttons = {};
  function show(kind) {
    for (const [k, b] of Object.entries(buttons)) b.setAttribute("aria-pressed", k === kind ? "true" : "false");
    if (kind === "none") clear(chart);
    else clear(chart, renderChart(result, { ...fits, kind }));
    view.dataset.chart = kind;
  }
  const bar = h("div", { class: "toolbar", role: "group", "aria-label": "result view" });
  if (fits) {
    for (const [kind, text] of [["line", "Line chart"], ["bar", "Bar chart"], ["none", "No chart"]]) {
      buttons[kind] = h("button", { type: "button", class: `view-${kind}`, onclick: () => show(kind) }, text);
      bar.append(buttons[kind]);
    }
  }
  bar.append(
    h("button", { type: "button", class: "export", onclick: () => download(`${name}.csv`, toCsv(names, result.rows)) }, "Export CSV"),
    h("span", { class: "muted" }, ` ${result.rows.length} row${result.rows.length === 1 ? "" : "s"}${result.truncated ? " (truncated)" : ""}`),
  );
  view.append(bar, chart, dataTable(names, result.rows));
  show(fits ? fits.kind : "none");
  return view;
}
