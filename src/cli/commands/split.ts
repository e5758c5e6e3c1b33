import type { Command } from "commander";
import { splitDataset } from "../../data/curate.js";
import { DataError } from "../../data/errors.js";

/** `hindcast split NAME@V --by episode --fractions 0.8,0.1,0.1 --seed S [--names a,b,c]` */
export function register(program: Command): void {
  program
    .command("split")
    .description("Split a version's episodes into child dataset versions (NAME-train, NAME-val, NAME-test)")
    .argument("<version>", "NAME@N or NAME@latest")
    .option("--by <unit>", "split unit", "episode")
    .requiredOption("--fractions <list>", "comma-separated fractions summing to 1, e.g. 0.8,0.1,0.1")
    .requiredOption("--seed <n>", "random seed")
    .option("--names <list>", "comma-separated child dataset names")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--json", "print the child manifests as JSON")
    .action(async (ref: string, flags: { by: string; fractions: string; seed: string; names?: string; store?: string; json?: boolean }) => {
      const seed = Number(flags.seed);
      if (!Number.isInteger(seed)) throw new DataError("invalid_split", `--seed must be an integer, got ${flags.seed}`);
      if (flags.by !== "episode") throw new DataError("invalid_split", `cannot split by ${flags.by}; only by episode`);
      const children = await splitDataset({
        store: flags.store,
        ref,
        by: "episode",
        fractions: flags.fractions.split(",").map(Number),
        seed,
        names: flags.names?.split(","),
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(children, null, 2) + "\n");
        return;
      }
      for (const c of children) process.stdout.write(`created ${c.name}@${c.version}: ${c.counts.accepted} rows, ${c.counts.episodes} episodes\n`);
    });
}
