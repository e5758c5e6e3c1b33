import type { Command } from "commander";
import { datasetStats, formatStats } from "../../data/stats.js";

/** `hindcast stats NAME@V [--store DIR] [--json]` */
export function register(program: Command): void {
  program
    .command("stats")
    .description("Counts, returns, action coverage, feature and propensity summaries of a dataset version")
    .argument("<version>", "NAME@N or NAME@latest")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--json", "print the statistics as JSON")
    .action(async (ref: string, flags: { store?: string; json?: boolean }) => {
      const stats = await datasetStats(flags.store, ref);
      process.stdout.write((flags.json ? JSON.stringify(stats, null, 2) : formatStats(stats)) + "\n");
    });
}
