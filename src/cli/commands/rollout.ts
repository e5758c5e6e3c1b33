import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { SingleBar, Presets } from "cli-progress";
import type { BehaviorPolicy } from "../../envs/behavior.js";
import { EnvError } from "../../envs/errors.js";
import type { Controller, Policy } from "../../envs/policy.js";
import { builtinPolicy, ENV_NAMES, makeEnv } from "../../envs/registry.js";
import { rollout, type RolloutResult } from "../../envs/rollout.js";
import { loadPolicy } from "../../policy/runtime.js";
import { integerOption } from "./simulate.js";

/**
 * `hindcast rollout --policy BUILTIN_OR_ARTIFACT_DIR --env NAME --episodes N --seed S [--json]`: runs a policy online
 * and prints its mean return with a 95% interval, episode lengths and the env's domain figures (ground truth for OPE).
 * An existing directory is loaded as a policy artifact (greedy unless the manifest says otherwise); anything else is
 * a behaviour spec such as "heuristic" or "eps-greedy(heuristic, 0.1)".
 */
export function register(program: Command): void {
  program
    .command("rollout")
    .description("Evaluate a policy online in a simulator: mean return, 95% CI, episode lengths, domain figures")
    .requiredOption("--policy <policy>", 'policy artifact directory, or a builtin such as "heuristic", "uniform", "eps-greedy(heuristic, 0.1)"')
    .requiredOption("--env <name>", `simulator: ${ENV_NAMES.join(", ")}`)
    .requiredOption("--episodes <n>", "number of episodes", integerOption("episodes", 1))
    .requiredOption("--seed <n>", "random seed", integerOption("seed"))
    .option("--max-steps <n>", "override the env's time limit", integerOption("max-steps", 1))
    .option("--gamma <g>", "also report the mean discounted return with this discount factor", parseGamma)
    .option("--json", "print the result as JSON")
    .action(async (options: { policy: string; env: string; episodes: number; seed: number; maxSteps?: number; gamma?: number; json?: boolean }) => {
      const env = makeEnv(options.env, { maxEpisodeSteps: options.maxSteps });
      const isArtifact = existsSync(options.policy) && statSync(options.policy).isDirectory();
      if (!isArtifact && (existsSync(options.policy) || /[\\/]|^\.|\.(onnx|json)$/.test(options.policy))) {
        // a path, not a builtin spec: say what is wrong with it rather than fail to parse it as a behaviour
        throw new EnvError(
          "policy_not_found",
          existsSync(options.policy)
            ? `--policy ${options.policy} is a file; give the policy artifact directory (the one holding manifest.json and policy.onnx)`
            : `--policy ${options.policy}: no such policy artifact directory (builtins: heuristic, uniform, "eps-greedy(heuristic, 0.1)", ...)`,
          { policy: options.policy },
        );
      }
      let policy: Policy | Controller | BehaviorPolicy;
      let close: () => Promise<void> = async () => {};
      let policyName: string;
      if (isArtifact) {
        const loaded = await loadPolicy(options.policy, { seed: options.seed });
        close = () => loaded.close();
        const policySpace = loaded.manifest.actionSpace, envSpace = env.actionSpace;
        const spacesMatch =
          policySpace.kind === "discrete"
            ? envSpace.kind === "discrete" && policySpace.n === envSpace.n
            : envSpace.kind === "continuous" &&
              policySpace.low.length === envSpace.low.length &&
              // same box: a policy scaled to other bounds would act with the wrong magnitudes and the env would clip them
              policySpace.low.every((low, i) => Math.abs(low - envSpace.low[i]!) <= 1e-6 && Math.abs(policySpace.high[i]! - envSpace.high[i]!) <= 1e-6);
        if (loaded.observationDim !== env.observationSpace.dim || !spacesMatch) {
          await close();
          throw new EnvError(
            "policy_env_mismatch",
            `policy ${options.policy} takes ${loaded.observationDim} features and acts in ${JSON.stringify(policySpace)}; ` +
              `${env.name} has ${env.observationSpace.dim} features and ${JSON.stringify(envSpace)}`,
            { env: env.name, policy: options.policy },
          );
        }
        policy = loaded;
        policyName = `${options.policy} (${loaded.manifest.algorithm}, ${loaded.exploration.kind})`;
      } else {
        const builtin = builtinPolicy(options.policy, env);
        policy = builtin;
        policyName = "spec" in builtin ? builtin.spec : builtin.name;
      }
      const showProgress = process.stderr.isTTY && options.episodes >= 20;
      const bar = showProgress ? new SingleBar({ format: "rollout |{bar}| {value}/{total} episodes", stream: process.stderr }, Presets.shades_classic) : null;
      bar?.start(options.episodes, 0);
      let result: RolloutResult;
      try {
        result = await rollout(env, policy, { episodes: options.episodes, seed: options.seed, gamma: options.gamma, onEpisode: (e) => bar?.update(e + 1) });
      } finally {
        bar?.stop();
        await close();
      }
      if (options.json) {
        process.stdout.write(JSON.stringify({ policy: policyName, ...result }) + "\n");
        return;
      }
      // one episode has no spread to estimate: meanInterval's degenerate [x, x] would read as certainty
      const interval = (ci: [number, number]) => (result.episodes < 2 ? "95% CI n/a (one episode)" : `95% CI [${fmt(ci[0])}, ${fmt(ci[1])}]`);
      const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(3) : v.toFixed(3));
      const lines = [
        `env ${result.env}, policy ${policyName}, ${result.episodes} episodes, seed ${result.seed}`,
        `mean return ${fmt(result.meanReturn)}  ${interval(result.ci95)}${result.episodes < 2 ? "" : `  std ${fmt(result.stdReturn)}`}`,
        ...(result.discounted
          ? [`discounted return (gamma ${result.discounted.gamma}) ${fmt(result.discounted.mean)}  ${interval(result.discounted.ci95)}`]
          : []),
        `episode length mean ${result.meanLength.toFixed(1)}  min ${Math.min(...result.lengths)}  max ${Math.max(...result.lengths)}`,
        ...Object.entries(result.figures).map(([name, f]) => `${name} ${fmt(f.mean)}  ${interval(f.ci95)}`),
      ];
      process.stdout.write(lines.join("\n") + "\n");
    });
}

function parseGamma(value: string): number {
  const gamma = Number(value);
  if (value.trim() === "" || !(gamma >= 0 && gamma <= 1)) {
    throw new EnvError("invalid_option", `--gamma must be a number in [0, 1], got "${value}"`, { option: "gamma", value });
  }
  return gamma;
}
