/** The dashboard's pages: plain HTML shells; each page's script fetches its JSON and draws with uPlot. */
export interface PageSpec {
  id: "overview" | "datasets" | "runs" | "policies" | "deployments" | "drift" | "alerts";
  path: string;
  title: string;
  /** One or two sentences: what the page shows and where the numbers come from. */
  shows: string;
}

export const PAGES: readonly PageSpec[] = [
  { id: "overview", path: "/", title: "Overview", shows: "What the dashboard is connected to and how much it holds: registry records and decisions in the log window." },
  { id: "datasets", path: "/datasets", title: "Datasets", shows: "Registered dataset versions: row counts from validation, the lineage from parent versions to the runs and policies trained on them, and feature lists." },
  { id: "runs", path: "/runs", title: "Runs", shows: "Training runs from the registry with their logged training curves (loss, value estimates) per step." },
  { id: "policies", path: "/policies", title: "Policies", shows: "Registered policies: off-policy evaluation estimates with confidence intervals against the behaviour baseline, lineage, and stage history." },
  { id: "deployments", path: "/deployments", title: "Deployments", shows: "Live behaviour per deployment from the decision log: latency percentiles, traffic split by route, canary vs control reward, and rollbacks." },
  { id: "drift", path: "/drift", title: "Drift", shows: "How far live states have moved from the training data: PSI per feature (latest window) and the multivariate MMD trend with its permutation p-value." },
  { id: "alerts", path: "/alerts", title: "Alerts", shows: "Alert rules evaluated over the decision log (latency and safety burn rates, drift, reward-proxy gap), plus the service's own alerts such as canary rollbacks." },
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export function renderPage(page: PageSpec, base: string): string {
  const nav = PAGES.map(
    (p) => `<a href="${base}${p.path === "/" ? "/" : p.path}"${p.id === page.id ? ' aria-current="page"' : ""}>${escapeHtml(p.title)}</a>`,
  ).join("\n      ");
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(page.title)} · Hindcast</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="${base}/static/uPlot.min.css">
  <link rel="stylesheet" href="${base}/static/dashboard.css">
</head>
<body data-page="${page.id}" data-base="${base}">
  <header>
    <strong>Hindcast</strong>
    <nav>
      ${nav}
    </nav>
  </header>
  <main>
    <h1>${escapeHtml(page.title)}</h1>
    <p class="shows">${escapeHtml(page.shows)}</p>
    <p class="updated">Last updated: <time id="updated">loading…</time> <button id="refresh" type="button">Refresh</button></p>
    <div id="content" aria-live="polite"></div>
  </main>
  <script src="${base}/static/uPlot.iife.min.js"></script>
  <script src="${base}/static/common.js"></script>
  <script src="${base}/static/${page.id}.js"></script>
</body>
</html>
`;
}
