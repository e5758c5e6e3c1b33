import type { Command } from "commander";
import { loadPolicy } from "../../policy/runtime.js";
import type { Exploration } from "../../policy/runtime.js";
import { PolicyError } from "../../policy/errors.js";

/** `hindcast predict --policy DIR --obs "1,2,3" [--json]`: one decision from a policy artifact. */
export function register(program: Command): void {
  program
    .command("predict")
    .description("Run a policy artifact on one observation and print the action")
    .requiredOption("--policy <dir>", "policy artifact directory (policy.onnx + manifest.json)")
    .requiredOption("--obs <values>", 'observation as comma-separated numbers, e.g. "0.1,-2,3"')
    .option("--exploration <json>", 'exploration, e.g. \'{"kind":"softmax","temperature":1}\' (default: greedy)')
    .option("--json", "print a JSON object (action, and probabilities or log-density when exploring)")
    .action(async (options: { policy: string; obs: string; exploration?: string; json?: boolean }) => {
      const observation = parseObservation(options.obs);
      const exploration = options.exploration ? parseExploration(options.exploration) : undefined;
      const policy = await loadPolicy(options.policy, { exploration });
      try {
        const action = await policy.act(observation);
        const actionValue = typeof action === "number" ? action : Array.from(action);
        if (!options.json) {
          process.stdout.write(`${Array.isArray(actionValue) ? actionValue.join(",") : actionValue}\n`);
          return;
        }
        const result: Record<string, unknown> = { algorithm: policy.manifest.algorithm, action: actionValue };
        if (policy.manifest.actionSpace.kind === "discrete") {
          result.probabilities = Array.from(await policy.actionProbabilities(observation));
        } else if (policy.exploration.kind !== "greedy") {
          result.logDensity = await policy.logDensity(observation, action as Float32Array);
        }
        process.stdout.write(JSON.stringify(result) + "\n");
      } finally {
        await policy.close();
      }
    });
}

/** Strict parsing: every comma-separated field must be a number; NaN and Infinity are left to the runtime to refuse. */
function parseObservation(text: string): Float32Array {
  const fields = text.split(",").map((f) => f.trim());
  const values = new Float32Array(fields.length);
  fields.forEach((field, i) => {
    const value = /^(nan|[+-]?inf(inity)?)$/i.test(field) ? parseSpecial(field) : field === "" ? NaN : Number(field);
    if (Number.isNaN(value) && !/^nan$/i.test(field)) {
      throw new PolicyError("obs_not_finite", `--obs field ${i + 1} ("${field}") is not a number`, { field: "obs", index: i, value: field });
    }
    values[i] = value;
  });
  return values;
}

function parseSpecial(field: string): number {
  const lower = field.toLowerCase();
  if (lower === "nan") return NaN;
  return lower.startsWith("-") ? -Infinity : Infinity;
}

function parseExploration(text: string): Exploration {
  try {
    return JSON.parse(text) as Exploration;
  } catch {
    throw new PolicyError("exploration_unsupported", `--exploration is not JSON: ${text}`, { field: "exploration", value: text });
  }
}
