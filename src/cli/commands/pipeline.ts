import type { Command } from "commander";
import { dirname, resolve } from "node:path";
import { Presets, SingleBar } from "cli-progress";
import { loadPipeline, runPipeline, type PipelineEvent, type PipelineResult } from "../../pipeline/pipeline.js";
import { openRegistryFromEnv } from "../../registry/index.js";
import { codeVersion } from "../version.js";

/**
 * `hindcast pipeline run PIPELINE.yaml [--rerun]`: the declarative retraining loop (src/pipeline/pipeline.ts).
 * `hindcast pipeline status NAME`: each step's latest status, input hash and outputs, from the registry.
 */
export function register(program: Command): void {
  const pipeline = program.command("pipeline").description("Declarative retraining loop: logs -> validation -> split -> training sweeps -> OPE gate -> registry");
  pipeline
    .command("run")
    .description("Run a pipeline file; finished steps with the same inputs are reused, an interrupted run resumes")
    .argument("<file>", "pipeline file (YAML or JSON)")
    .option("--store <dir>", "dataset store (default: the file's store, else $HINDCAST_STORE or ./.hindcast/datasets)")
    .option("--registry <url>", "registry URL (default: the file's registry, else $HINDCAST_REGISTRY or sqlite:.hindcast/registry.db)")
    .option("--rerun", "run every step again even when its inputs are unchanged")
    .option("--json", "print the result as JSON")
    .action(async (file: string, flags: { store?: string; registry?: string; rerun?: boolean; json?: boolean }) => {
      const config = loadPipeline(file);
      const printer = eventPrinter();
      let result: PipelineResult;
      try {
        result = await runPipeline(config, {
          baseDir: dirname(resolve(file)),
          store: flags.store,
          registry: flags.registry,
          rerun: flags.rerun,
          codeVersion: codeVersion(),
          onEvent: flags.json ? undefined : printer.onEvent,
        });
      } finally {
        printer.stop();
      }
      if (flags.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + "\n");
        return;
      }
      const ran = result.steps.filter((s) => s.outcome === "ran").length;
      const reused = result.steps.filter((s) => s.outcome === "reused").length;
      process.stdout.write(
        `pipeline ${result.pipeline}: ${result.steps.length} steps (${ran} ran, ${reused} reused)\n` +
          (result.policy
            ? `chosen ${result.chosen} -> ${result.policy} (${result.stage})${result.refused ? `; the registry refused promotion: ${result.refused}` : ""}\n`
            : `no candidate passed the OPE gate; nothing registered\n`) +
          `step records: hindcast pipeline status ${result.pipeline}${flags.registry ? ` --registry ${flags.registry}` : ""}\n`,
      );
    });

  pipeline
    .command("status")
    .description("The steps of a pipeline as recorded in the registry")
    .argument("<name>", "pipeline name")
    .option("--registry <url>", "registry URL (default $HINDCAST_REGISTRY or sqlite:.hindcast/registry.db)")
    .option("--token <token>", "registry API token (default $HINDCAST_TOKEN)")
    .option("--json", "print JSON")
    .action(async (name: string, flags: { registry?: string; token?: string; json?: boolean }) => {
      const registry = await openRegistryFromEnv({ registry: flags.registry, token: flags.token });
      try {
        const steps = await registry.listSteps(name);
        if (flags.json) {
          process.stdout.write(JSON.stringify(steps, null, 2) + "\n");
          return;
        }
        if (steps.length === 0) {
          process.stdout.write(`no steps recorded for pipeline ${name}\n`);
          return;
        }
        for (const s of steps) {
          process.stdout.write(`${s.updatedAt}  ${s.status.padEnd(9)}  ${s.name.padEnd(40)}  ${s.inputHash.slice(0, 19)}  ${s.error ?? JSON.stringify(s.outputs).slice(0, 120)}\n`);
        }
      } finally {
        await registry.close();
      }
    });
}

/** One line per step as it starts and ends; a progress bar for long steps (simulation, training) on a terminal. */
function eventPrinter(): { onEvent: (event: PipelineEvent) => void; stop: () => void } {
  let bar: SingleBar | null = null;
  const stop = (): void => {
    bar?.stop();
    bar = null;
  };
  return {
    onEvent(event) {
      if (event.kind === "progress") {
        if (!process.stderr.isTTY) return;
        if (!bar) {
          bar = new SingleBar({ format: `  ${event.name} |{bar}| {value}/{total}`, stream: process.stderr, hideCursor: true, clearOnComplete: true }, Presets.shades_classic);
          bar.start(event.total, event.done);
        }
        bar.update(event.done);
        return;
      }
      stop();
      const detail = event.summary ? `  ${event.summary}` : "";
      const time = event.seconds !== undefined ? ` (${event.seconds.toFixed(1)}s)` : "";
      process.stderr.write(`${event.status.padEnd(9)} ${event.name}${time}${event.status === "start" ? "" : detail}\n`);
    },
    stop,
  };
}
