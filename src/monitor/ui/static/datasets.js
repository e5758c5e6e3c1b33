(function () {
  "use strict";
  const { el, fmt, when, table, chart, start } = window.Hindcast;
  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Three columns: dataset versions (parents above children), runs trained on them, policies from them. */
  function lineage(datasets) {
    const nodes = new Map();
    const edges = [];
    const columns = [[], [], []];
    const add = (id, label, column) => {
      if (!nodes.has(id)) {
        nodes.set(id, { id, label, column, row: columns[column].length });
        columns[column].push(id);
      }
    };
    for (const d of datasets) add(`d:${d.name}@${d.version}`, `${d.name}@${d.version}`, 0);
    for (const d of datasets) {
      const id = `d:${d.name}@${d.version}`;
      for (const p of d.parents || []) {
        const parent = `d:${p.name}@${p.version}`;
        if (nodes.has(parent)) edges.push([parent, id]);
      }
      for (const r of d.runs) {
        add(`r:${r.id}`, `run ${r.id} · ${r.algorithm}`, 1);
        edges.push([id, `r:${r.id}`]);
      }
      for (const p of d.policies) {
        add(`p:${p.ref}`, `${p.ref} · ${p.stage}`, 2);
        // A policy hangs off the run that trained it when the registry knows it, else off the dataset.
        edges.push([p.runId !== null && nodes.has(`r:${p.runId}`) ? `r:${p.runId}` : id, `p:${p.ref}`]);
      }
    }
    const width = 1000, boxW = 240, boxH = 26, gapY = 12;
    const rows = Math.max(1, ...columns.map((c) => c.length));
    const root = svg("svg", { class: "lineage", width, height: rows * (boxH + gapY) + 10, viewBox: `0 0 ${width} ${rows * (boxH + gapY) + 10}`, role: "img", "aria-label": "Lineage graph" });
    const pos = (n) => ({ x: 50 + n.column * 320, y: 5 + n.row * (boxH + gapY) });
    for (const [from, to] of edges) {
      const a = pos(nodes.get(from)), b = pos(nodes.get(to));
      const sameColumn = nodes.get(from).column === nodes.get(to).column;
      const d = sameColumn
        ? `M${a.x} ${a.y + boxH / 2} C${a.x - 40} ${a.y + boxH / 2}, ${b.x - 40} ${b.y + boxH / 2}, ${b.x} ${b.y + boxH / 2}`
        : `M${a.x + boxW} ${a.y + boxH / 2} C${a.x + boxW + 40} ${a.y + boxH / 2}, ${b.x - 40} ${b.y + boxH / 2}, ${b.x} ${b.y + boxH / 2}`;
      root.append(svg("path", { d }));
    }
    for (const n of nodes.values()) {
      const p = pos(n);
      root.append(svg("rect", { x: p.x, y: p.y, width: boxW, height: boxH }), svg("text", { x: p.x + 8, y: p.y + 17 }, n.label));
    }
    return root;
  }

  start("datasets", (data, content) => {
    if (data.datasets.length === 0) return;
    const rows = data.datasets;
    content.append(el("h2", {}, "Versions"));
    content.append(
      table(
        [
          { label: "Dataset", value: (d) => `${d.name}@${d.version}` },
          { label: "Accepted rows", value: (d) => fmt(d.counts && d.counts.accepted, 0), num: true },
          { label: "Quarantined", value: (d) => fmt(d.counts && d.counts.quarantined, 0), num: true },
          { label: "Episodes", value: (d) => fmt(d.counts && d.counts.episodes, 0), num: true },
          { label: "Features", value: (d) => d.featureNames.join(", ") || "–" },
          { label: "Sensitive", value: (d) => d.sensitiveFeatures.join(", ") || "none" },
          { label: "Made by", value: (d) => (d.transform ? d.transform.kind : "–") },
          { label: "Hash", value: (d) => el("code", {}, String(d.hash).slice(0, 19)) },
          { label: "Registered", value: (d) => when(d.createdAt) },
        ],
        rows,
      ),
    );
    content.append(el("h2", {}, "Validation: accepted vs quarantined rows"));
    chart(content, "Rows per version", rows.map((_, i) => i), [
      { label: "accepted", values: rows.map((d) => (d.counts ? d.counts.accepted : null)), bars: true },
      { label: "quarantined", values: rows.map((d) => (d.counts ? d.counts.quarantined : null)), bars: true, color: "#d1495b" },
    ], { xLabels: rows.map((d) => `${d.name}@${d.version}`), height: 220 });
    content.append(el("h2", {}, "Lineage: parent versions → runs → policies"), el("div", { class: "card" }, lineage(rows)));
    content.append(el("h2", {}, "Statistics"));
    for (const d of rows) {
      const card = el("section", { class: "card" }, el("h3", {}, `${d.name}@${d.version}`));
      content.append(card);
      if (!d.stats) {
        card.append(el("p", {}, "Not in the local dataset store, so no statistics: start the dashboard with --store DIR where this version lives."));
        continue;
      }
      const s = d.stats;
      card.append(el("p", {}, `${fmt(s.rows, 0)} rows in ${fmt(s.episodes, 0)} episodes · reward mean ${fmt(s.rewards.mean)} (sd ${fmt(s.rewards.std)}) · episode return median ${fmt(s.returns.median)}`));
      card.append(
        table([
          { label: "Feature", value: (f) => f.name + (f.sensitive ? " (sensitive)" : "") },
          { label: "Mean", value: (f) => fmt(f.mean), num: true },
          { label: "Std", value: (f) => fmt(f.std), num: true },
          { label: "Min", value: (f) => fmt(f.min), num: true },
          { label: "Median", value: (f) => fmt(f.median), num: true },
          { label: "Max", value: (f) => fmt(f.max), num: true },
        ], s.features),
      );
      if (s.actions.kind === "discrete") {
        chart(card, `Logged actions, ${d.name}@${d.version}`, s.actions.counts.map((_, i) => i), [{ label: "count", values: s.actions.counts, bars: true }], { xLabels: s.actions.counts.map((_, i) => `action ${i}`), height: 180 });
      }
    }
  });
})();
