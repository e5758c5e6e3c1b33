// Shared helpers for the dashboard pages: fetch a page's JSON, show when it was generated, empty states,
// tables and uPlot charts. Plain browser JavaScript, no build step.
(function () {
  "use strict";
  const base = document.body.dataset.base || "";
  const palette = ["#2457c5", "#d1495b", "#1b7f3b", "#a15c00", "#7b3fb5", "#00798c", "#6b6b6b"];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (typeof value !== "number") return String(value);
    const d = digits === undefined ? 3 : digits;
    return Math.abs(value) >= 1000 ? value.toLocaleString("en-US", { maximumFractionDigits: 0 }) : String(Number(value.toFixed(d)));
  }

  function when(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function badge(text) {
    return el("span", { class: "badge " + String(text).replace(/[^a-z_]/gi, "") }, text);
  }

  function table(columns, rows) {
    return el(
      "table",
      {},
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c.label)))),
      el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => el("td", { class: c.num ? "num" : null }, c.value(row)))))),
    );
  }

  function empty(hint) {
    return el("div", { class: "empty", role: "status" }, el("strong", {}, hint.what), el("p", {}, "To fill this page, run: ", el("code", {}, hint.run)));
  }

  /**
   * A uPlot chart. `x` is the x values, `series` a list of {label, values, color?, bars?, dash?}. Options:
   * time (x in seconds since epoch), xLabels (names for integer x), height, yLabel, bands.
   */
  function chart(container, title, x, series, options) {
    const opts = options || {};
    const style = getComputedStyle(container);
    const inner = container.clientWidth - parseFloat(style.paddingLeft || "0") - parseFloat(style.paddingRight || "0");
    const width = Math.max(320, Math.min(inner || 560, 1150));
    const box = el("div", { class: "chart", "data-chart": title, "data-points": String(x.length * series.length) });
    container.append(box);
    const xLabels = opts.xLabels;
    const config = {
      title,
      width,
      height: opts.height || 240,
      scales: { x: { time: Boolean(opts.time), range: xLabels ? [-0.5, x.length - 0.5] : undefined } },
      axes: [
        xLabels ? { values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) && xLabels[t] !== undefined ? xLabels[t] : "")), space: 30 } : {},
        { label: opts.yLabel, size: 60 },
      ],
      series: [{ label: opts.xName || (opts.time ? "time" : "x") }].concat(
        series.map((s, i) => ({
          label: s.label,
          stroke: s.color || palette[i % palette.length],
          width: s.bars ? 0 : 2,
          fill: s.bars ? (s.color || palette[i % palette.length]) + "cc" : s.fill,
          dash: s.dash,
          points: { show: s.points !== undefined ? s.points : x.length < 40 },
          paths: s.bars ? uPlot.paths.bars({ size: [0.6, 80] }) : undefined,
          spanGaps: true,
        })),
      ),
      bands: opts.bands,
      legend: { live: true },
    };
    new uPlot(config, [x].concat(series.map((s) => s.values)), box);
    return box;
  }

  async function load(page, render) {
    const content = document.getElementById("content");
    const updated = document.getElementById("updated");
    try {
      const response = await fetch(base + "/api/" + page, { headers: { accept: "application/json" } });
      const data = await response.json();
      if (!response.ok) throw new Error((data.code ? data.code + ": " : "") + (data.message || response.statusText));
      content.replaceChildren();
      updated.textContent = when(data.generatedAt);
      updated.setAttribute("datetime", data.generatedAt);
      if (data.empty) content.append(empty(data.empty));
      render(data, content);
    } catch (error) {
      content.replaceChildren(el("div", { class: "error", role: "alert" }, "Could not load this page's data: " + error.message));
      updated.textContent = "failed";
    }
  }

  function start(page, render) {
    const run = () => load(page, render);
    document.getElementById("refresh").addEventListener("click", run);
    run();
    setInterval(run, 60000);
  }

  window.Hindcast = { base, el, fmt, when, badge, table, empty, chart, start, palette };
})();
