import type { Command } from "commander";
import { filterDataset } from "../../data/curate.js";

/** `hindcast filter NAME@V [--since T] [--until T] [--policy-version V...] [--where EXPR] [--into NAME]` */
export function register(program: Command): void {
  program
    .command("filter")
    .description("Keep rows by time window, policy version or SQL expression, as a child version with lineage")
    .argument("<version>", "NAME@N or NAME@latest")
    .option("--since <time>", "keep rows with timestamp >= this")
    .option("--until <time>", "keep rows with timestamp < this")
    .option("--policy-version <v...>", "keep rows logged under these policy versions")
    .option("--where <expr>", "SQL boolean expression over the stored columns (file access disabled)")
    .option("--into <name>", "child dataset name (default: a new version of the same dataset)")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--json", "print the child manifest as JSON")
    .action(async (ref: string, flags: { since?: string; until?: string; policyVersion?: string[]; where?: string; into?: string; store?: string; json?: boolean }) => {
      const child = await filterDataset({ store: flags.store, ref, since: flags.since, until: flags.until, policyVersions: flags.policyVersion, where: flags.where, into: flags.into });
      if (flags.json) {
        process.stdout.write(JSON.stringify(child, null, 2) + "\n");
        return;
      }
      process.stdout.write(`created ${child.name}@${child.version}: ${child.counts.accepted} rows, ${child.counts.episodes} episodes\n`);
    });
}
