(function () {
  "use strict";
  const { el, fmt, when, badge, table, chart, start } = window.Hindcast;
  start("deployments", (data, content) => {
    for (const d of data.deployments) {
      const card = el("section", { class: "card" });
      content.append(card);
      card.append(el("h2", {}, d.name));
      const r = d.routing;
      const status = d.status;
      card.append(
        el("p", {},
          "Production: ", el("strong", {}, (r && r.production) || (status && status.production) || "none"),
          " · Canary: ", r && r.canary ? `${r.canary.policy} at ${fmt(r.canary.fraction * 100, 1)}%` : status && status.canary ? `${status.canary.version} at ${fmt(status.canary.fraction * 100, 1)}%` : "none",
          " · Shadows: ", (r && r.shadows.join(", ")) || "none",
          status && status.guard ? ` · Canary guard: ${status.guard.state}` : "",
        ),
      );
      const s = d.series;
      if (s.t.length === 0) card.append(el("p", {}, "No decisions for this deployment in the log window."));
      else {
        const row = el("div", { class: "row" });
        card.append(row);
        const left = el("div"), right = el("div");
        row.append(left, right);
        chart(left, "Decision latency (ms) per minute", s.t, [
          { label: "p50", values: s.p50 },
          { label: "p95", values: s.p95 },
          { label: "p99", values: s.p99 },
        ], { time: true, yLabel: "ms" });
        chart(right, "Traffic split: decisions per minute by route", s.t, s.routes.map((route) => ({ label: route, values: s.traffic[route] })), { time: true });
        const row2 = el("div", { class: "row" });
        card.append(row2);
        const l2 = el("div"), r2 = el("div");
        row2.append(l2, r2);
        chart(l2, "Canary vs control: mean reward per minute", s.t, s.routes.map((route) => ({ label: route, values: s.reward[route] })), { time: true });
        chart(r2, "Safety interventions per minute", s.t, [{ label: "interventions", values: s.safety, color: "#d1495b" }], { time: true });
      }
      card.append(el("h3", {}, "Rollbacks"));
      card.append(
        d.rollbacks.length === 0
          ? el("p", {}, "No rollbacks recorded.")
          : table([
              { label: "When", value: (x) => when(x.at) },
              { label: "Policy", value: (x) => x.policy },
              { label: "From", value: (x) => badge(x.from) },
              { label: "Who", value: (x) => x.actor },
              { label: "Why", value: (x) => x.reason },
            ], d.rollbacks),
      );
    }
  });
})();
