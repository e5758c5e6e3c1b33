(function () {
  "use strict";
  const { el, when, badge, chart, start } = window.Hindcast;
  start("runs", (data, content) => {
    for (const run of data.runs) {
      const card = el("section", { class: "card" });
      card.append(
        el("h2", {}, `Run ${run.id} · ${run.algorithm} `, badge(run.status)),
        el("p", {}, `Dataset ${run.dataset || "–"} · seed ${run.seed} · started ${when(run.createdAt)}` + (run.finishedAt ? ` · finished ${when(run.finishedAt)}` : "")),
      );
      content.append(card);
      const names = Object.keys(run.curves);
      if (names.length === 0) {
        card.append(el("p", {}, "No training metrics were logged for this run."));
        continue;
      }
      const steps = [...new Set(names.flatMap((n) => run.curves[n].steps))].sort((a, b) => a - b);
      const series = names.map((n) => {
        const byStep = new Map(run.curves[n].steps.map((s, i) => [s, run.curves[n].values[i]]));
        return { label: n, values: steps.map((s) => (byStep.has(s) ? byStep.get(s) : null)) };
      });
      chart(card, `Training curves, run ${run.id}`, steps, series, { xName: "step", height: 220 });
    }
  });
})();
