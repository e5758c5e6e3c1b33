(function () {
  "use strict";
  const { el, fmt, when, badge, table, chart, start } = window.Hindcast;
  start("policies", (data, content) => {
    if (data.policies.length === 0) return;
    const baseline = new Map(data.baseline.map((b) => [b.estimator, b]));
    const rows = data.policies.flatMap((p) => p.evaluations.map((e) => ({ policy: p, e })));
    content.append(el("h2", {}, "Off-policy evaluation"));
    if (rows.length === 0) content.append(el("p", {}, "No evaluations recorded yet: run hindcast evaluate POLICY --dataset NAME@VERSION."));
    else {
      content.append(
        table(
          [
            { label: "Policy", value: (r) => r.policy.ref },
            { label: "Stage", value: (r) => badge(r.policy.stage) },
            { label: "Estimator", value: (r) => r.e.estimator },
            { label: "Value", value: (r) => fmt(r.e.value), num: true },
            { label: "Interval", value: (r) => `[${fmt(r.e.lower)}, ${fmt(r.e.upper)}]` + (r.e.confidence ? ` @ ${fmt(r.e.confidence * 100, 0)}%` : ""), num: true },
            { label: "vs baseline", value: (r) => (baseline.has(r.e.estimator) ? (r.e.value - baseline.get(r.e.estimator).value >= 0 ? "+" : "") + fmt(r.e.value - baseline.get(r.e.estimator).value) : "–"), num: true },
            { label: "Split", value: (r) => r.e.split },
          ],
          rows,
        ),
      );
      const labels = rows.map((r) => `${r.policy.ref} ${r.e.estimator}`);
      chart(content, "Estimated value with confidence interval (baseline dashed)", rows.map((_, i) => i), [
        { label: "upper", values: rows.map((r) => r.e.upper), color: "#9aa6bb", points: true },
        { label: "value", values: rows.map((r) => r.e.value), points: true },
        { label: "lower", values: rows.map((r) => r.e.lower), color: "#9aa6bb", points: true },
        { label: "baseline", values: rows.map((r) => (baseline.has(r.e.estimator) ? baseline.get(r.e.estimator).value : null)), color: "#a15c00", dash: [6, 4], points: false },
      ], { xLabels: labels, bands: [{ series: [1, 3], fill: "rgba(36,87,197,0.12)" }], height: 260 });
    }
    content.append(el("h2", {}, "Lineage and stage history"));
    for (const p of data.policies) {
      content.append(
        el("section", { class: "card" },
          el("h3", {}, p.ref, " ", badge(p.stage), p.deployment ? ` on ${p.deployment}` : ""),
          el("p", {}, `Trained by ${p.run ? `run ${p.run.id} (${p.run.algorithm})` : "an unrecorded run"} on ${p.dataset || "an unrecorded dataset"}; artifact sha256 `, el("code", {}, p.sha256.slice(0, 12)), `; registered ${when(p.createdAt)}.`),
          p.stageHistory.length === 0
            ? el("p", {}, "Never promoted.")
            : table([
                { label: "When", value: (s) => when(s.at) },
                { label: "From", value: (s) => badge(s.from) },
                { label: "To", value: (s) => badge(s.to) },
                { label: "Deployment", value: (s) => s.deployment },
                { label: "Who", value: (s) => s.actor },
                { label: "Why", value: (s) => s.reason || "–" },
              ], p.stageHistory),
        ),
      );
    }
  });
})();
