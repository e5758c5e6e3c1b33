import type { Command } from "commander";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { resolveStoreDir } from "../../data/store.js";
import { openRegistryFromEnv } from "../../registry/index.js";
import { datasetReference } from "../../monitor/context.js";
import { loadMonitorRules } from "../../monitor/rules.js";
import { seedDashboardDemo } from "../../monitor/ui/demo.js";
import { dashboardPlugin, type DashboardOptions } from "../../monitor/ui/plugin.js";

interface UiFlags {
  registry?: string;
  token?: string;
  host: string;
  port: string;
  log?: string;
  reference?: string;
  store?: string;
  rules?: string;
  window: string;
  demo?: boolean;
}

/** `hindcast ui --registry URL --port P [--log DIR] [--reference NAME@N]`: the dashboard on its own, at /ui. */
export function register(program: Command): void {
  program
    .command("ui")
    .description("Serve the dashboard (datasets, runs, policies, deployments, drift, alerts) at http://HOST:PORT/ui")
    .option("--registry <url>", "registry URL (default $HINDCAST_REGISTRY or sqlite:.hindcast/registry.db)")
    .option("--token <token>", "registry API token (default $HINDCAST_TOKEN)")
    .option("--host <host>", "interface to bind", "127.0.0.1")
    .option("--port <port>", "port (0 picks a free one)", "8081")
    .option("--log <path>", "decision log directory for the deployments, drift and alerts pages")
    .option("--reference <dataset>", "training dataset version NAME@N for the drift page")
    .option("--store <dir>", "dataset store directory for dataset statistics and --reference (default $HINDCAST_STORE or .hindcast/datasets)")
    .option("--rules <file>", "alert rule settings (YAML/JSON)")
    .option("--window <seconds>", "how far back the live pages look", "21600")
    .option("--demo", "serve a seeded demo (in-memory registry, synthetic decision log) instead")
    .action(async (flags: UiFlags) => {
      let options: DashboardOptions;
      let demoDir: string | null = null;
      if (flags.demo) {
        demoDir = mkdtempSync(join(tmpdir(), "hindcast-ui-demo-"));
        // The demo's clock runs from now on, so "last updated" moves and the log slides out of the window over hours.
        options = { ...(await seedDashboardDemo(demoDir)), now: undefined };
      } else {
        options = {
          registry: await openRegistryFromEnv({ registry: flags.registry, token: flags.token }),
          logPath: flags.log,
          windowSeconds: Number(flags.window),
          store: resolveStoreDir(flags.store),
          ...(flags.reference ? { reference: await datasetReference(flags.store, flags.reference) } : {}),
          ...(flags.rules ? { rules: loadMonitorRules(flags.rules) } : {}),
        };
      }
      const app = Fastify();
      app.get("/", async (_request, reply) => reply.redirect("/ui/"));
      await app.register(dashboardPlugin, { ...options, prefix: "/ui" });
      const address = await app.listen({ host: flags.host, port: Number(flags.port) });
      process.stdout.write(`dashboard at ${address}/ui/\n`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await app.close();
      await options.registry?.close();
      if (demoDir) rmSync(demoDir, { recursive: true, force: true });
    });
}
