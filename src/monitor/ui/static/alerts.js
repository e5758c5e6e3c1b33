(function () {
  "use strict";
  const { el, fmt, when, badge, table, chart, start } = window.Hindcast;
  start("alerts", (data, content) => {
    content.append(el("h2", {}, `Firing now (${data.firing.length})`));
    content.append(
      data.firing.length === 0
        ? el("p", {}, "Nothing is firing.")
        : table([
            { label: "Severity", value: (a) => badge(a.severity) },
            { label: "Rule", value: (a) => a.rule },
            { label: "Deployment", value: (a) => a.deployment },
            { label: "Policy", value: (a) => a.policy },
            { label: "Since", value: (a) => when(a.at) },
            { label: "Summary", value: (a) => a.summary },
          ], data.firing),
    );
    if (data.events.length > 0) {
      const hours = new Map();
      for (const e of data.events) {
        if (e.state !== "firing") continue;
        const hour = Math.floor(Date.parse(e.at) / 3600000) * 3600;
        const entry = hours.get(hour) || { page: 0, ticket: 0 };
        entry[e.severity] += 1;
        hours.set(hour, entry);
      }
      const t = [...hours.keys()].sort((a, b) => a - b);
      chart(content, "Alerts started per hour", t, [
        { label: "page", values: t.map((h) => hours.get(h).page), bars: true, color: "#d1495b" },
        { label: "ticket", values: t.map((h) => hours.get(h).ticket), bars: true, color: "#a15c00" },
      ], { time: true, height: 200 });
      content.append(el("h2", {}, "History (newest first)"));
      content.append(
        table([
          { label: "When", value: (e) => when(e.at) },
          { label: "State", value: (e) => badge(e.state) },
          { label: "Severity", value: (e) => badge(e.severity) },
          { label: "Rule", value: (e) => e.rule },
          { label: "Deployment / policy", value: (e) => `${e.deployment} / ${e.policy}` },
          { label: "Value", value: (e) => fmt(e.value), num: true },
          { label: "Summary", value: (e) => e.summary },
        ], data.events),
      );
    }
    if (data.service.length > 0) {
      content.append(el("h2", {}, "Service alerts"));
      content.append(table([
        { label: "When", value: (e) => when(e.at) },
        { label: "Kind", value: (e) => e.kind },
        { label: "Deployment", value: (e) => e.deployment },
        { label: "Reason", value: (e) => e.reason },
      ], data.service));
    }
  });
})();
