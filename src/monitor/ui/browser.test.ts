// Browser tests: every dashboard page, mounted at /ui inside a decision service seeded with the demo, loads in
// Debian's Chromium (driven by playwright-core), draws its charts with data, logs no console errors, and leaves a
// screenshot in test-artifacts/screenshots/ (the CI artifact folder the README names).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { MemoryRoutingSource } from "../../serve/routing.js";
import { linearPolicy } from "../../serve/policy.js";
import { createDecisionService } from "../../serve/service.js";
import { DEMO_FEATURES } from "../demo.js";
import { dashboardPlugin } from "./plugin.js";
import { seedDashboardDemo } from "./demo.js";
import { PAGES } from "./pages.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = join(process.cwd(), "test-artifacts", "screenshots");

test("dashboard pages in Chromium: load, charts with data, no console errors, screenshots", { skip: !existsSync(CHROMIUM) && `browser tests skipped: ${CHROMIUM} is absent (apt-get install chromium)`, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-ui-browser-"));
  const seed = await seedDashboardDemo(dir);
  const routing = new MemoryRoutingSource({
    deployments: { autoscaler: { production: { policy: "cql-autoscaler@1" }, fallback: { action: 0 } } },
  });
  const service = await createDecisionService({
    routing,
    loader: async (ref) => linearPolicy({ version: ref, actionSpace: { kind: "discrete", n: 2 }, featureNames: DEMO_FEATURES, weights: [0, 0, 0, 0, 1, 0, 0, 0] }),
    logDir: join(dir, "service-log"),
    durableLog: false,
    plugins: [{ plugin: dashboardPlugin, options: { ...seed, prefix: "/ui" } }],
  });
  const { url } = await service.start();
  let browser: Browser | null = null;
  try {
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
    page.on("response", (answer) => {
      if (answer.status() >= 400) problems.push(`HTTP ${answer.status()}: ${answer.url()}`);
    });
    for (const spec of PAGES) {
      problems.length = 0;
      const response = await page.goto(`${url}/ui${spec.path === "/" ? "/" : spec.path}`, { waitUntil: "load" });
      assert.equal(response?.status(), 200, spec.id);
      await page.waitForSelector("#updated[datetime]", { timeout: 30_000 });
      assert.equal(await page.locator("h1").textContent(), spec.title);
      const errors = await page.locator(".error").allTextContents();
      assert.deepEqual(errors, [], spec.id);
      assert.equal(await page.locator(".empty").count(), 0, `${spec.id} shows an empty state against the seeded demo`);
      const charts = page.locator(".chart");
      assert.ok((await charts.count()) > 0, `${spec.id}: no chart`);
      for (let i = 0; i < (await charts.count()); i++) {
        const chart = charts.nth(i);
        assert.ok(Number(await chart.getAttribute("data-points")) > 0, `${spec.id}: chart ${await chart.getAttribute("data-chart")} has no data`);
        assert.ok((await chart.locator("canvas").count()) > 0, `${spec.id}: chart ${i} has no canvas`);
      }
      if (spec.id === "datasets") assert.ok((await page.locator("svg.lineage rect").count()) >= 5, "lineage graph nodes");
      await page.screenshot({ path: join(SCREENSHOTS, `${spec.id}.png`), fullPage: true });
      assert.deepEqual(problems, [], spec.id);
    }
  } finally {
    await browser?.close();
    await service.stop();
    await seed.registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
