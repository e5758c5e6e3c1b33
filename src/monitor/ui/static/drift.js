(function () {
  "use strict";
  const { el, fmt, when, badge, table, chart, start } = window.Hindcast;
  start("drift", (data, content) => {
    for (const d of data.deployments) {
      const card = el("section", { class: "card" });
      content.append(card);
      card.append(
        el("h2", {}, `${d.deployment} `, badge(d.drifted ? "drifted" : "stable")),
        el("p", {}, `${fmt(d.liveRows, 0)} live states vs ${fmt(data.referenceRows, 0)} training states · drift index (largest PSI) ${fmt(d.driftIndex)} (ticket above ${data.thresholds.psi})` +
          (d.mmd ? ` · MMD² ${fmt(d.mmd.statistic, 4)}, p = ${fmt(d.mmd.pValue)} (ticket below ${data.thresholds.mmdPValue})` : "")),
      );
      const row = el("div", { class: "row" });
      card.append(row);
      const left = el("div"), right = el("div");
      row.append(left, right);
      const features = d.features.slice().sort((a, b) => a.index - b.index);
      chart(left, "PSI per feature (latest window)", features.map((_, i) => i), [
        { label: "PSI", values: features.map((f) => f.psi), bars: true },
        { label: "threshold", values: features.map(() => data.thresholds.psi), color: "#d1495b", dash: [6, 4], points: false },
      ], { xLabels: features.map((f) => f.feature) });
      const trend = d.trend;
      chart(right, "MMD trend (window by window)", trend.map((p) => Date.parse(p.at) / 1000), [
        { label: "MMD²", values: trend.map((p) => p.mmd) },
        { label: "drift index", values: trend.map((p) => p.driftIndex) },
        { label: "p-value", values: trend.map((p) => p.pValue), dash: [4, 4] },
      ], { time: true });
      card.append(el("h3", {}, "Who drifted, most first"));
      card.append(
        table([
          { label: "Rank", value: (f) => f.rank, num: true },
          { label: "Feature", value: (f) => f.feature },
          { label: "PSI", value: (f) => fmt(f.psi), num: true },
          { label: "KL (nats)", value: (f) => fmt(f.kl), num: true },
          { label: "Mean shift (sd)", value: (f) => fmt(f.meanShift, 2), num: true },
          { label: "Flagged", value: (f) => badge(f.flagged ? "yes" : "no") },
        ], d.features),
      );
    }
  });
})();
