import type { Command } from "commander";
import { lineage, listDatasets, listVersions, readManifest, resolveStoreDir, type LineageNode } from "../../data/store.js";

const label = (n: { name: string; version: number }) => `${n.name}@${n.version}`;
const describe = (n: LineageNode) => `${label(n)}  ${n.transform.kind}${n.parents.length ? ` of ${n.parents.map(label).join(", ")}` : ""}`;

/** `hindcast datasets list|show|lineage` */
export function register(program: Command): void {
  const datasets = program.command("datasets").description("List and inspect stored dataset versions");
  datasets
    .command("list")
    .description("Datasets in the store with their versions")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--json", "print as JSON")
    .action((flags: { store?: string; json?: boolean }) => {
      const store = resolveStoreDir(flags.store);
      const rows = listDatasets(store).map((name) => {
        const versions = listVersions(store, name);
        const latest = readManifest(store, { name, version: versions[versions.length - 1]! });
        return { name, versions, latest: latest.version, rows: latest.counts.accepted, episodes: latest.counts.episodes, createdAt: latest.createdAt };
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
        return;
      }
      if (rows.length === 0) process.stdout.write(`no datasets in ${store}\n`);
      for (const r of rows) process.stdout.write(`${r.name}  versions ${r.versions.join(",")}  latest @${r.latest}: ${r.rows} rows, ${r.episodes} episodes, ${r.createdAt}\n`);
    });
  datasets
    .command("show")
    .description("The manifest of a version")
    .argument("<version>", "NAME@N or NAME@latest")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .action((ref: string, flags: { store?: string }) => {
      process.stdout.write(JSON.stringify(readManifest(resolveStoreDir(flags.store), ref), null, 2) + "\n");
    });
  datasets
    .command("lineage")
    .description("Ancestors and descendants of a version")
    .argument("<version>", "NAME@N or NAME@latest")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--json", "print as JSON")
    .action((ref: string, flags: { store?: string; json?: boolean }) => {
      const result = lineage(resolveStoreDir(flags.store), ref);
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + "\n");
        return;
      }
      const lines = [describe(result.version), "ancestors:", ...result.ancestors.map((n) => `  ${describe(n)}`), "descendants:", ...result.descendants.map((n) => `  ${describe(n)}`)];
      process.stdout.write(lines.join("\n") + "\n");
    });
}
