import type { OpeReport } from "./evaluate.js";
import type { SelectionResult } from "./select.js";

/** Plain-text tables for terminals; the JSON form is the report object itself. */
function number(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined) return "-";
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 1e5 || (Math.abs(value) < 1e-3 && value !== 0) ? value.toExponential(2) : value.toFixed(digits);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function formatReport(report: OpeReport): string {
  const out: string[] = [];
  out.push(`policy ${report.policy}: ${report.episodes} episodes, ${report.rows} rows, gamma ${report.gamma}`);
  out.push(`behaviour: ${report.behavior.label}${report.model ? `; model: ${report.model}` : ""}`);
  const base = report.baseline;
  out.push(
    `logging policy (on-policy mean return): ${number(base.value)}` +
      (base.interval ? ` [${number(base.interval.lower)}, ${number(base.interval.upper)}]` : "") +
      `, lower bound ${number(base.lowerBound.value)}`,
  );
  out.push("");
  const level = report.estimates.find((e) => e.interval)?.interval?.level;
  const confidence = report.estimates[0]?.lowerBound.confidence ?? 0.95;
  out.push(
    table(
      ["estimator", "value", level ? `${Math.round(level * 100)}% CI` : "CI", `${Math.round(confidence * 100)}% lower`, "ESS", "ESS %", "max w", "mean w", "clipped"],
      report.estimates.map((e) => [
        e.estimator,
        number(e.value),
        e.interval ? `[${number(e.interval.lower)}, ${number(e.interval.upper)}]` : "-",
        number(e.lowerBound.value),
        number(e.diagnostics.effectiveSampleSize, 1),
        e.diagnostics.essFraction === null ? "-" : `${(100 * e.diagnostics.essFraction).toFixed(1)}%`,
        number(e.diagnostics.maxWeight, 3),
        number(e.diagnostics.meanWeight, 3),
        e.diagnostics.clippedFraction === null ? "-" : `${(100 * e.diagnostics.clippedFraction).toFixed(1)}%`,
      ]),
    ),
  );
  out.push("");
  // Same text for several estimators: one line naming them all.
  const grouped = (entries: Array<[string, string]>) => {
    const byText = new Map<string, string[]>();
    for (const [estimator, text] of entries) byText.set(text, [...(byText.get(text) ?? []), estimator]);
    return [...byText].map(([text, estimators]) => [estimators.join(", "), text] as const);
  };
  for (const [names, method] of grouped(report.estimates.filter((e) => e.interval).map((e) => [e.estimator, e.interval!.method]))) {
    out.push(`CI (${names}): ${method}`);
  }
  for (const [names, method] of grouped(report.estimates.map((e) => [e.estimator, e.lowerBound.method]))) {
    out.push(`lower bound (${names}): ${method}`);
  }
  const warnings = [
    ...report.warnings,
    ...grouped(report.estimates.flatMap((e) => e.diagnostics.warnings.map((w) => [e.estimator, w] as [string, string]))).map(([names, w]) => `${names}: ${w}`),
  ];
  if (warnings.length > 0) {
    out.push("");
    out.push("warnings:");
    for (const w of warnings) out.push(`  - ${w}`);
  }
  return out.join("\n") + "\n";
}

export function formatSelection(result: SelectionResult): string {
  const out: string[] = [];
  out.push(`ranked by ${result.by} of ${result.estimator}`);
  out.push(
    table(
      ["rank", "policy", "value", "CI", "lower bound", ...(result.baseline ? ["beats baseline"] : [])],
      result.ranking.map((row) => [
        String(row.rank),
        row.name,
        number(row.value),
        row.interval ? `[${number(row.interval.lower)}, ${number(row.interval.upper)}]` : "-",
        number(row.lowerBound.value),
        ...(result.baseline ? [row.beatsBaseline ? (row.offSupport ? "yes (off-support, not trusted)" : "yes") : "no"] : []),
      ]),
    ),
  );
  if (result.baseline) out.push(`baseline (logging policy, on-policy mean return): ${number(result.baseline.value)}`);
  out.push(`lower bound: ${result.ranking[0]?.lowerBound.method ?? "-"}`);
  out.push(result.statement);
  const warnings = result.ranking.flatMap((row) => row.warnings.map((w) => `${row.name}: ${w}`));
  if (warnings.length > 0) {
    out.push("warnings:");
    for (const w of warnings) out.push(`  - ${w}`);
  }
  return out.join("\n") + "\n";
}
