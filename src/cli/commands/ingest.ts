import type { Command } from "commander";
import { join } from "node:path";
import { ingest, rowPosition, type IngestReport, type ProgressEvent } from "../../data/ingest.js";
import { QUARANTINE_FILE, resolveStoreDir, versionDir } from "../../data/store.js";

/** Human summary of an ingest/validation report. */
export function formatIngestReport(report: IngestReport): string {
  const lines = [
    `read ${report.read}  accepted ${report.accepted}  quarantined ${report.quarantined}  (accepted + quarantined = read: ${report.reconciled ? "yes" : "NO"})`,
    `episodes read ${report.episodes.read}  accepted ${report.episodes.accepted}  rejected ${report.episodes.rejected}`,
  ];
  const counts = Object.entries(report.issueCounts);
  if (counts.length > 0) lines.push(`findings: ${counts.map(([code, n]) => `${code} ${n}`).join(", ")}`);
  for (const issue of report.issues.slice(0, 10)) lines.push(`  ${issue.file} ${rowPosition(issue.file, issue.row)}  ${issue.code}  ${issue.message}`);
  if (report.issues.length > 10) lines.push(`  ... ${report.issues.length - 10} more in the report (--json) and the quarantine file`);
  for (const warning of report.warnings.slice(0, 10)) lines.push(`warning ${warning.code}: ${warning.file ? `${warning.file}: ` : ""}${warning.message}`);
  if (report.warnings.length > 10) lines.push(`... ${report.warnings.length - 10} more warnings (--json)`);
  return lines.join("\n");
}

function progressPrinter(enabled: boolean): ((event: ProgressEvent) => void) | undefined {
  if (!enabled) return undefined;
  return (event) => {
    if (event.stage === "read") process.stderr.write(event.rows === undefined ? `reading ${event.file}\n` : `read ${event.rows} rows from ${event.file}\n`);
    else if (event.stage === "validate") process.stderr.write(`validating ${event.rows} rows\n`);
    else if (event.stage === "write") process.stderr.write(`writing ${event.rows} accepted rows\n`);
  };
}

/** `hindcast ingest FILE... --schema S --dataset NAME [--store DIR] [--strict] [--delimiter C] [--json]` */
export function register(program: Command): void {
  program
    .command("ingest")
    .description("Validate logged decisions (CSV, JSONL, Parquet) and store them as a new dataset version")
    .argument("<files...>", "input files")
    .requiredOption("--schema <file>", "dataset schema (JSON or YAML)")
    .requiredOption("--dataset <name>", "dataset name")
    .option("--store <dir>", "dataset store (default $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--strict", "reject the whole ingest if any row fails validation")
    .option("--delimiter <char>", "CSV field separator: one character, or 'tab' (default ',')")
    .option("--json", "print the manifest and report as JSON")
    .action(async (files: string[], flags: { schema: string; dataset: string; store?: string; strict?: boolean; delimiter?: string; json?: boolean }) => {
      const { manifest, report } = await ingest({
        files,
        schema: flags.schema,
        dataset: flags.dataset,
        store: flags.store,
        strict: flags.strict ?? false,
        delimiter: flags.delimiter === "tab" || flags.delimiter === "\\t" ? "\t" : flags.delimiter,
        onProgress: progressPrinter(!flags.json && process.stderr.isTTY === true),
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ dataset: `${manifest.name}@${manifest.version}`, manifest, report }, null, 2) + "\n");
        return;
      }
      const quarantine = report.quarantined > 0 ? `\nquarantined rows, with their rule codes: ${join(versionDir(resolveStoreDir(flags.store), manifest), QUARANTINE_FILE)}` : "";
      process.stdout.write(`created ${manifest.name}@${manifest.version}  ${manifest.contentHash}\n${formatIngestReport(report)}${quarantine}\n`);
    });
}
