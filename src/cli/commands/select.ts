import type { Command } from "commander";
import { OpeError } from "../../ope/errors.js";
import type { EstimatorName } from "../../ope/evaluate.js";
import { formatSelection } from "../../ope/report.js";
import { selectPolicies, type Candidate } from "../../ope/select.js";
import { resolveTargetPolicy, type ResolvedTarget } from "../../ope/targets.js";
import { loadForOpe, parseShared, sharedOptions, type SharedOpeFlags } from "./ope.js";

/** `hindcast select`: rank candidate policies from logs and say which beats the logging policy with confidence. */
export function register(program: Command): void {
  sharedOptions(
    program
      .command("select")
      .description("Rank candidate policies by off-policy value or lower bound")
      .option("--policies <list>", "comma-separated policy artifact directories (or built-in specs with --env; separate those with ';')")
      .option("--target-prob-columns <list>", "comma-separated dataset columns of candidates' target probabilities")
      .option("--by <criterion>", "lower-bound | value", "lower-bound")
      .option("--baseline <name>", "compare against the logging policy: behavior")
      .option("--estimator <name>", "estimator used for ranking (default wdr with a model, else wpdis)"),
  ).action(async (flags: SharedOpeFlags & { policies?: string; targetProbColumns?: string; by: string; baseline?: string; estimator?: string }) => {
    if (flags.by !== "lower-bound" && flags.by !== "value") throw new OpeError("invalid_option", `--by must be lower-bound or value, got "${flags.by}"`, { option: "by" });
    if (flags.baseline !== undefined && flags.baseline !== "behavior") throw new OpeError("invalid_option", `--baseline takes "behavior", got "${flags.baseline}"`, { option: "baseline" });
    if (!flags.policies && !flags.targetProbColumns) throw new OpeError("invalid_option", "give --policies or --target-prob-columns", { option: "policies" });
    const shared = parseShared(flags);
    const columnNames = (flags.targetProbColumns ?? "").split(",").map((c) => c.trim()).filter(Boolean);
    const { transitions, columns, qHat, vHat } = await loadForOpe(flags, columnNames);
    const specs = flags.policies ? flags.policies.split(flags.policies.includes(";") ? ";" : ",").map((p) => p.trim()).filter(Boolean) : [];
    const opened: ResolvedTarget[] = [];
    try {
      for (const spec of specs) {
        opened.push(await resolveTargetPolicy(spec, { actionSpace: transitions.actionSpace, observationDim: transitions.observationDim, env: flags.env, exploration: shared.exploration, seed: shared.seed }));
      }
      const candidates: Candidate[] = [
        ...opened.map((policy) => ({ name: policy.name, policy })),
        ...columnNames.map((column) => ({ name: `column ${column}`, targetProb: columns[column] })),
      ];
      const result = await selectPolicies({
        ...shared,
        transitions,
        candidates,
        by: flags.by,
        baseline: flags.baseline === "behavior" ? "behavior" : null,
        estimator: flags.estimator as EstimatorName | undefined,
        qHat,
        vHat,
      });
      process.stdout.write(flags.json ? JSON.stringify({ ...result, reports: undefined }, null, 2) + "\n" : formatSelection(result));
    } finally {
      for (const policy of opened) await policy.close();
    }
  });
}
