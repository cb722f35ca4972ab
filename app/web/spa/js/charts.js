// Small SVG charts of our own (no library, nothing from another origin): a line over points and a
// stacked bar. Each returns an <svg> with a <title> saying in words what it draws.

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element with attributes. */
function svg(/** @type {string} */ tag, /** @type {Record<string, string | number>} */ attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

/**
 * A line chart of (x, y) points with its last value labelled; `describe` becomes the chart's title.
 * @param {{x: number, y: number}[]} points
 * @param {{describe: string, unit?: string, width?: number, height?: number, id?: string}} options
 */
export function lineChart(points, options) {
  const width = options.width ?? 320;
  const height = options.height ?? 90;
  const pad = 6;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "data-points": points.length });
  if (options.id) chart.setAttribute("id", options.id);
  const title = svg("title");
  title.textContent = options.describe;
  chart.appendChild(title);
  chart.appendChild(svg("rect", { x: 0, y: 0, width, height, class: "chart-frame" }));
  if (!points.length) return chart;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const top = Math.max(...ys, 0) || 1;
  const sx = (/** @type {number} */ x) => pad + (x1 === x0 ? (width - 2 * pad) / 2 : ((x - x0) / (x1 - x0)) * (width - 2 * pad));
  const sy = (/** @type {number} */ y) => height - pad - (y / top) * (height - 2 * pad);
  const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
  chart.appendChild(svg("path", { d: path, class: "chart-line" }));
  for (const p of points) chart.appendChild(svg("circle", { cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: 2.5, class: "chart-dot" }));
  const last = points[points.length - 1];
  const label = svg("text", { x: width - pad, y: pad + 10, "text-anchor": "end", class: "chart-label" });
  label.textContent = `${Math.round(last.y * 10) / 10}${options.unit ?? ""}`;
  chart.appendChild(label);
  return chart;
}

/**
 * One horizontal bar split into parts (e.g. current / stale / missing embeddings).
 * @param {{label: string, value: number, kind: string}[]} parts
 * @param {{describe: string, width?: number, id?: string}} options
 */
export function stackedBar(parts, options) {
  const width = options.width ?? 320;
  const height = 22;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  if (options.id) chart.setAttribute("id", options.id);
  const title = svg("title");
  title.textContent = options.describe;
  chart.appendChild(title);
  const total = parts.reduce((sum, p) => sum + p.value, 0) || 1;
  let x = 0;
  for (const part of parts) {
    const w = (part.value / total) * width;
    const rect = svg("rect", { x: x.toFixed(1), y: 0, width: w.toFixed(1), height, class: `bar-${part.kind}` });
    const tip = svg("title");
    tip.textContent = `${part.label}: ${part.value.toLocaleString("en")}`;
    rect.appendChild(tip);
    chart.appendChild(rect);
    x += w;
  }
  return chart;
}
