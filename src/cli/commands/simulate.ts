import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import type { FileFormat } from "../../data/write-columns.js";
import { EnvError } from "../../envs/errors.js";
import { ENV_NAMES } from "../../envs/registry.js";
import { outputTarget, simulateDataset, writeSimulatedDataset } from "../../envs/simulate.js";

/** Parses a non-negative integer option value, or fails with a coded error naming the option. */
export function integerOption(name: string, min = 0): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (!/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min) {
      throw new EnvError("invalid_option", `--${name} must be an integer >= ${min}, got "${value}"`, { option: name, value });
    }
    return parsed;
  };
}

/**
 * `hindcast simulate --env NAME --behavior SPEC --episodes N --seed S --out FILE [--format parquet|csv|jsonl]`:
 * logs a behaviour policy in a simulator and writes the dataset plus FILE.schema.json, ready for `hindcast ingest`.
 */
export function register(program: Command): void {
  program
    .command("simulate")
    .description("Write a logged dataset (with propensities and a schema file) from a simulator and a behaviour policy")
    .requiredOption("--env <name>", `simulator: ${ENV_NAMES.join(", ")}`)
    .requiredOption("--behavior <spec>", 'behaviour policy, e.g. "eps-greedy(heuristic, 0.2)" or "mixture(0.7*softmax(heuristic, 0.5), 0.3*uniform)"')
    .requiredOption("--episodes <n>", "number of episodes", integerOption("episodes", 1))
    .requiredOption("--seed <n>", "random seed", integerOption("seed"))
    .requiredOption("--out <file>", "dataset file to write; without a .parquet/.csv/.jsonl extension one is added; the schema goes to FILE.schema.json")
    .option("--format <format>", "parquet, csv or jsonl (default: from the --out extension, else parquet); must agree with the extension")
    .option("--max-steps <n>", "override the env's time limit", integerOption("max-steps", 1))
    .action(async (options: { env: string; behavior: string; episodes: number; seed: number; out: string; format?: string; maxSteps?: number }) => {
      if (options.format !== undefined && options.format !== "parquet" && options.format !== "csv" && options.format !== "jsonl") {
        throw new EnvError("invalid_option", `--format must be parquet, csv or jsonl, got "${options.format}"`, { option: "format" });
      }
      // fails on an extension that contradicts --format before any simulation runs
      const { format } = outputTarget(options.out, options.format as FileFormat | undefined);
      const showProgress = process.stderr.isTTY && options.episodes >= 20;
      const bar = showProgress ? new SingleBar({ format: "simulate |{bar}| {value}/{total} episodes", stream: process.stderr }, Presets.shades_classic) : null;
      bar?.start(options.episodes, 0);
      const dataset = simulateDataset({
        env: options.env,
        behavior: options.behavior,
        episodes: options.episodes,
        seed: options.seed,
        maxEpisodeSteps: options.maxSteps,
        onEpisode: (episode) => bar?.update(episode + 1),
      });
      bar?.stop();
      const { dataPath, schemaPath } = await writeSimulatedDataset(dataset, options.out, format);
      const meanReturn = dataset.returns.reduce((a, b) => a + b, 0) / dataset.returns.length;
      process.stdout.write(
        `wrote ${dataset.transitions.size} transitions in ${options.episodes} episodes of ${dataset.env} ` +
          `(behaviour ${dataset.behavior}, mean return ${meanReturn.toFixed(3)}) to ${dataPath}\nschema: ${schemaPath}\n`,
      );
    });
}
