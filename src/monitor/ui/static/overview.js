(function () {
  "use strict";
  const { el, fmt, start, chart, base } = window.Hindcast;
  start("overview", (data, content) => {
    const counts = data.counts;
    const card = (label, value, href, hint) =>
      el("a", { class: "card", href: base + href, style: "text-decoration:none;color:inherit" }, el("div", {}, label), el("div", { class: "stat" }, value === null ? "–" : fmt(value, 0)), el("small", {}, hint));
    content.append(
      el(
        "div",
        { class: "cards" },
        card("Dataset versions", counts.datasets, "/datasets", counts.datasets === null ? "no registry connected" : "in the registry"),
        card("Training runs", counts.runs, "/runs", counts.runs === null ? "no registry connected" : "in the registry"),
        card("Policies", counts.policies, "/policies", counts.policies === null ? "no registry connected" : "in the registry"),
        card("Decisions", counts.decisions, "/deployments", counts.decisions === null ? "no decision log" : "in the log window"),
      ),
    );
    if (data.traffic.t.length > 0) {
      chart(content, "Decisions per 10 minutes (all deployments)", data.traffic.t, [{ label: "decisions", values: data.traffic.decisions, bars: true }], { time: true, height: 200 });
    } else {
      content.append(el("p", {}, "No decisions in the log window yet: the traffic chart appears once the service logs decisions."));
    }
    content.append(
      el("h2", {}, "Sources"),
      el("ul", {},
        el("li", {}, "Registry: ", data.sources.registry || "not connected (start with --registry URL)"),
        el("li", {}, "Decision log: ", data.sources.decisionLog || "none (start with --log DIR, or mount in hindcast serve)"),
        el("li", {}, "Decision service: ", data.sources.service ? "this dashboard runs inside the service" : "not attached"),
      ),
    );
  });
})();
