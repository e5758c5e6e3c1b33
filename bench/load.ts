import { cpus, loadavg } from "node:os";

/** The machine's state when a benchmark ran, printed beside its figures ("load average 0.12 on 2 cores"). */
export function loadNote(): string {
  return `load average ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores`;
}
