// Charts as SVG, chosen from a result's shape: a time column and a measure → line, a category and
// a measure → bar. A result is {columns: [{name, type}], rows: [[...]]}.
const SVG = "http://www.w3.org/2000/svg";
const NUMERIC = /int|double|float|decimal|numeric|real|number/i;
const TEMPORAL = /date|time/i;
const ISO = /^\d{4}(-\d{2}(-\d{2})?)?([T ][\d:.]+Z?)?$/;

function values(result, index) {
  return result.rows.map((r) => r[index]).filter((v) => v !== null && v !== undefined);
}

export function isNumeric(result, index) {
  const type = result.columns[index].type || "";
  const vs = values(result, index);
  return vs.length > 0 && (NUMERIC.test(type) || vs.every((v) => typeof v === "number"));
}

export function isTemporal(result, index) {
  const type = result.columns[index].type || "";
  const vs = values(result, index);
  return vs.length > 0 && (TEMPORAL.test(type) || vs.every((v) => typeof v === "string" && ISO.test(v)));
}

/** {kind: "line" | "bar", x, y} (column indexes), or null when no chart fits. */
export function chooseChart(result) {
  if (!result || result.rows.length === 0 || result.columns.length < 2) return null;
  const indexes = result.columns.map((_, i) => i);
  const time = indexes.find((i) => isTemporal(result, i));
  const measure = (other) => indexes.find((i) => i !== other && isNumeric(result, i) && !isTemporal(result, i));
  if (time !== undefined && measure(time) !== undefined) return { kind: "line", x: time, y: measure(time) };
  const category = indexes.find((i) => !isNumeric(result, i));
  if (category !== undefined && measure(category) !== undefined) return { kind: "bar", x: category, y: measure(category) };
  if (isNumeric(result, 0) && measure(0) !== undefined) return { kind: "bar", x: 0, y: measure(0) };
  return null;
}

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function ticks(max, min = 0) {
  const span = max - min || Math.abs(max) || 1;
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= 5) || step * 10;
  const out = [];
  for (let t = Math.floor(min / nice) * nice; t <= max + nice / 2; t += nice) out.push(+t.toPrecision(12));
  return out;
}

const short = (v) => {
  const text = String(v);
  return text.length > 14 ? `${text.slice(0, 13)}…` : text;
};

/** The chart as an <svg> of `kind` with x and y column indexes. */
export function renderChart(result, { kind, x, y }) {
  const width = 720;
  const height = 320;
  const pad = { left: 64, right: 16, top: 16, bottom: 64 };
  const points = result.rows
    .filter((r) => r[y] !== null && r[y] !== undefined)
    .map((r) => ({ label: r[x], value: Number(r[y]) }));
  if (kind === "line") points.sort((a, b) => String(a.label).localeCompare(String(b.label)));
  const top = Math.max(0, ...points.map((p) => p.value));
  const bottom = Math.min(0, ...points.map((p) => p.value));
  const scale = ticks(top, bottom);
  const hi = scale[scale.length - 1];
  const lo = scale[0];
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const yOf = (v) => pad.top + plotH - ((v - lo) / (hi - lo || 1)) * plotH;
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, class: `chart chart-${kind}`, role: "img",
    "aria-label": `${kind} chart of ${result.columns[y].name} by ${result.columns[x].name}`,
  });
  for (const t of scale) {
    svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: yOf(t), y2: yOf(t), class: "grid" }));
    svg.append(el("text", { x: pad.left - 6, y: yOf(t) + 4, "text-anchor": "end", class: "tick" }, t.toLocaleString()));
  }
  const n = Math.max(points.length, 1);
  const every = Math.ceil(n / 12);
  if (kind === "bar") {
    const slot = plotW / n;
    points.forEach((p, i) => {
      const y0 = yOf(Math.max(0, p.value));
      const bar = el("rect", {
        x: pad.left + i * slot + slot * 0.1, y: y0, width: Math.max(slot * 0.8, 1),
        height: Math.max(Math.abs(yOf(p.value) - yOf(0)), 1), class: "bar",
      });
      bar.append(el("title", {}, `${p.label}: ${p.value.toLocaleString()}`));
      svg.append(bar);
      if (i % every === 0) svg.append(label(pad.left + i * slot + slot / 2, height - pad.bottom + 14, p.label));
    });
  } else {
    const xOf = (i) => pad.left + (n === 1 ? plotW / 2 : (i / (n - 1)) * plotW);
    svg.append(el("polyline", { points: points.map((p, i) => `${xOf(i)},${yOf(p.value)}`).join(" "), class: "line" }));
    points.forEach((p, i) => {
      const dot = el("circle", { cx: xOf(i), cy: yOf(p.value), r: 3, class: "dot" });
      dot.append(el("title", {}, `${p.label}: ${p.value.toLocaleString()}`));
      svg.append(dot);
      if (i % every === 0) svg.append(label(xOf(i), height - pad.bottom + 14, p.label));
    });
  }
  svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: yOf(0), y2: yOf(0), class: "axis" }));
  svg.append(el("text", { x: pad.left + plotW / 2, y: height - 6, "text-anchor": "middle", class: "axis-title" }, result.columns[x].name));
  svg.append(el("text", { x: 12, y: pad.top + plotH / 2, "text-anchor": "middle", class: "axis-title", transform: `rotate(-90 12 ${pad.top + plotH / 2})` }, result.columns[y].name));
  return svg;
}

function label(x, y, text) {
  return el("text", { x, y, "text-anchor": "end", class: "tick", transform: `rotate(-35 ${x} ${y})` }, short(text));
}
