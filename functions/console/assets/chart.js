// Line charts in plain SVG: a few series of [time, value] points on a shared time axis.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 480;
const HEIGHT = 200;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };

function node(name, attributes = {}, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

let chartCount = 0;

// series: [{ label, className, points: [{ t: Date, v: number }] }]; yMax: the top of the value axis
// (null: the largest value); format: how a value reads on the axis and in the description.
export function lineChart({ title, series, yMax = null, format = String, timeFormat = String }) {
  chartCount += 1;
  const id = `chart-${chartCount}`;
  const svg = node("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart",
    "aria-labelledby": `${id}-title ${id}-desc`,
  });
  svg.append(node("title", { id: `${id}-title` }, title));
  const latest = series.map((s) => {
    const last = s.points[s.points.length - 1];
    return `${s.label}: ${last ? format(last.v) : "no data"}`;
  });
  svg.append(node("desc", { id: `${id}-desc` }, `Latest values: ${latest.join(", ")}.`));

  const points = series.flatMap((s) => s.points);
  const times = points.map((p) => p.t.getTime());
  const t0 = times.length ? Math.min(...times) : 0;
  const t1 = times.length ? Math.max(...times) : 1;
  const top = yMax ?? Math.max(1, ...points.map((p) => p.v));
  const x = (t) => PAD.left + ((t - t0) / Math.max(1, t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);

  const grid = node("g", { class: "grid" });
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    grid.append(node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }));
    grid.append(node("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, format(value)));
  }
  if (times.length) {
    grid.append(node("text", { x: PAD.left, y: HEIGHT - 8 }, timeFormat(new Date(t0))));
    grid.append(node("text", { x: WIDTH - PAD.right, y: HEIGHT - 8, "text-anchor": "end" },
      timeFormat(new Date(t1))));
  }
  svg.append(grid);

  for (const s of series) {
    if (!s.points.length) continue;
    const coordinates = s.points.map((p) => `${x(p.t.getTime()).toFixed(1)},${y(p.v).toFixed(1)}`);
    svg.append(node("polyline", { class: `series ${s.className}`, points: coordinates.join(" ") }));
    const last = s.points[s.points.length - 1];
    svg.append(node("circle", { class: `series ${s.className}`, cx: x(last.t.getTime()), cy: y(last.v), r: 3 }));
  }
  return svg;
}

// The chart's legend as an HTML list, so it wraps on a narrow screen.
export function legend(series) {
  const list = document.createElement("ul");
  list.className = "legend";
  for (const s of series) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch ${s.className}`;
    swatch.setAttribute("aria-hidden", "true");
    item.append(swatch, s.label);
    list.append(item);
  }
  return list;
}
