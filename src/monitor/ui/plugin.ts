/**
 * The dashboard as a Fastify plugin: the decision service mounts it at /ui (its `plugins` option passes
 * `service`), and `hindcast ui` serves it alone. Pages are static HTML with a small script each; the JSON they
 * read lives under `<prefix>/api/<page>`. No build step: uPlot is served from its npm package.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync } from "fastify";
import { DashboardData, type DashboardSources } from "./data.js";
import { PAGES, renderPage } from "./pages.js";

export type DashboardOptions = DashboardSources;

const here = dirname(fileURLToPath(import.meta.url));
/** Beside this file when run from source; the compiled build (dist/monitor/ui) reads the copy shipped in src/. */
const staticDir = [join(here, "static"), join(here, "..", "..", "..", "src", "monitor", "ui", "static")].find((dir) => existsSync(dir)) ?? join(here, "static");
const uplotDir = dirname(createRequire(import.meta.url).resolve("uplot/dist/uPlot.iife.min.js"));

const STATIC_FILES: Record<string, { path: string; type: string }> = {
  "uPlot.iife.min.js": { path: join(uplotDir, "uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "uPlot.min.css": { path: join(uplotDir, "uPlot.min.css"), type: "text/css; charset=utf-8" },
  "dashboard.css": { path: join(staticDir, "dashboard.css"), type: "text/css; charset=utf-8" },
  "common.js": { path: join(staticDir, "common.js"), type: "text/javascript; charset=utf-8" },
  ...Object.fromEntries(PAGES.map((p) => [`${p.id}.js`, { path: join(staticDir, `${p.id}.js`), type: "text/javascript; charset=utf-8" }])),
};

export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const data = new DashboardData(options);
  const base = app.prefix;
  const files = new Map(Object.entries(STATIC_FILES).map(([name, file]) => [name, { body: readFileSync(file.path), type: file.type }]));

  for (const page of PAGES) {
    const html = renderPage(page, base);
    app.get(page.path, async (_request, reply) => reply.type("text/html; charset=utf-8").header("cache-control", "no-store").send(html));
  }
  app.get<{ Params: { file: string } }>("/static/:file", async (request, reply) => {
    const file = files.get(request.params.file);
    if (!file) return reply.code(404).send({ code: "not_found", message: `no static file ${request.params.file}` });
    return reply.type(file.type).header("cache-control", "public, max-age=300").send(file.body);
  });
  const api: Record<string, () => Promise<unknown>> = {
    overview: () => data.overview(),
    datasets: () => data.datasets(),
    runs: () => data.runs(),
    policies: () => data.policies(),
    deployments: () => data.deployments(),
    drift: () => data.drift(),
    alerts: () => data.alerts(),
  };
  app.get<{ Params: { page: string } }>("/api/:page", async (request, reply) => {
    const handler = api[request.params.page];
    if (!handler) return reply.code(404).send({ code: "not_found", message: `no dashboard API ${request.params.page}` });
    try {
      return await handler();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return reply.code(500).send({ code: typeof code === "string" ? code : "internal_error", message: (error as Error).message });
    }
  });
};
