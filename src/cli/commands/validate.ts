import type { Command } from "commander";
import { validateVersion } from "../../data/validate.js";
import { formatIngestReport } from "./ingest.js";

/** `hindcast validate NAME@V [--store DIR] [--json]`: exit status 1 when the version fails a check. */
export function register(program: Command): void {
  program
    .command("validate")
    .description("Re-check a stored dataset version: content hash, row count and every validation rule")
    .argument("<version>", "NAME@N or NAME@latest")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--json", "print the result as JSON")
    .action(async (ref: string, flags: { store?: string; json?: boolean }) => {
      const result = await validateVersion(flags.store, ref);
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + "\n");
      } else {
        process.stdout.write(
          `${result.dataset.name}@${result.dataset.version}: ${result.ok ? "valid" : "INVALID"}\n` +
            `content hash ${result.hashMatches ? "matches" : "DOES NOT MATCH"} the manifest; row count ${result.countMatches ? "matches" : "DOES NOT MATCH"}\n` +
            (result.report ? formatIngestReport(result.report) : `unreadable: ${result.error?.code}: ${result.error?.message}`) +
            "\n",
        );
      }
      if (!result.ok) process.exitCode = 1;
    });
}
