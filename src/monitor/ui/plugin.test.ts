import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { dashboardPlugin } from "./plugin.js";
import { seedDashboardDemo } from "./demo.js";
import { PAGES } from "./pages.js";

test("every page and API answers against the seeded demo; empty sources explain what to run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hindcast-ui-"));
  const seed = await seedDashboardDemo(dir, Date.UTC(2026, 0, 2));
  const app = Fastify();
  await app.register(dashboardPlugin, { ...seed, prefix: "/ui" });
  const bare = Fastify();
  await bare.register(dashboardPlugin, { prefix: "/ui" });
  try {
    for (const page of PAGES) {
      const html = await app.inject(`/ui${page.path === "/" ? "/" : page.path}`);
      assert.equal(html.statusCode, 200, page.id);
      assert.match(html.body, new RegExp(`<h1>${page.title}</h1>`));
      assert.match(html.body, /Last updated/);
      const api = await app.inject(`/ui/api/${page.id}`);
      assert.equal(api.statusCode, 200, `${page.id}: ${api.body}`);
      const body = api.json() as { generatedAt: string; empty?: unknown };
      assert.equal(body.generatedAt, "2026-01-02T00:00:00.000Z");
      assert.equal(body.empty, undefined, `${page.id} should have data: ${api.body.slice(0, 200)}`);
      const script = await app.inject(`/ui/static/${page.id}.js`);
      assert.equal(script.statusCode, 200);
      if (page.id !== "overview") {
        const empty = (await bare.inject(`/ui/api/${page.id}`)).json() as { empty?: { what: string; run: string } };
        assert.ok(empty.empty && empty.empty.run.startsWith("hindcast"), `${page.id} empty state: ${JSON.stringify(empty)}`);
      }
    }
    assert.equal((await app.inject("/ui/static/uPlot.iife.min.js")).statusCode, 200);
    assert.equal((await app.inject("/ui/static/nope.js")).statusCode, 404);
    assert.equal((await app.inject("/ui/api/nope")).statusCode, 404);

    const drift = (await app.inject("/ui/api/drift")).json() as { deployments: Array<{ drifted: boolean; features: Array<{ feature: string }> }> };
    // The demo shifts queue_depth during the last two hours of a six-hour window.
    assert.equal(drift.deployments[0]!.features[0]!.feature, "queue_depth");
    const alerts = (await app.inject("/ui/api/alerts")).json() as { events: Array<{ rule: string; state: string }> };
    const fired = new Set(alerts.events.filter((e) => e.state === "firing").map((e) => e.rule));
    assert.ok(fired.has("DecisionLatencyBudgetBurn") && fired.has("SafetyBudgetBurn") && fired.has("FeatureDrift"), [...fired].join());
    const deployments = (await app.inject("/ui/api/deployments")).json() as {
      deployments: Array<{ name: string; rollbacks: unknown[]; series: { routes: string[] }; routing: { canary: { fraction: number } } }>;
    };
    const autoscaler = deployments.deployments.find((d) => d.name === "autoscaler")!;
    assert.deepEqual(autoscaler.series.routes, ["canary", "production"]);
    assert.equal(autoscaler.rollbacks.length, 1);
    assert.equal(autoscaler.routing.canary.fraction, 0.2);
  } finally {
    await app.close();
    await bare.close();
    await seed.registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
