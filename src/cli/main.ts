import { Command } from "commander";
import { reportAndExit } from "./errors.js";
import { codeVersion } from "./version.js";
import { register as registerOpe } from "./commands/ope.js";
import { register as registerSelect } from "./commands/select.js";
import { register as registerRuns } from "./commands/runs.js";
import { register as registerPolicies } from "./commands/policies.js";
import { register as registerPromote } from "./commands/promote.js";
import { register as registerRollback } from "./commands/rollback.js";
import { register as registerAudit } from "./commands/audit.js";
import { register as registerTokens } from "./commands/tokens.js";
import { register as registerSimulate } from "./commands/simulate.js";
import { register as registerRollout } from "./commands/rollout.js";
import { register as registerTrain } from "./commands/train.js";
import { register as registerPredict } from "./commands/predict.js";
import { register as registerIngest } from "./commands/ingest.js";
import { register as registerValidate } from "./commands/validate.js";
import { register as registerStats } from "./commands/stats.js";
import { register as registerDatasets } from "./commands/datasets.js";
import { register as registerSplit } from "./commands/split.js";
import { register as registerFilter } from "./commands/filter.js";
import { register as registerServe } from "./commands/serve.js";
import { register as registerDemo } from "./commands/demo.js";
import { register as registerPipeline } from "./commands/pipeline.js";
import { register as registerMonitor } from "./commands/monitor.js";
import { register as registerUi } from "./commands/ui.js";

/** Each command module adds its subcommand(s) to the program, in the order data flows; the CLI has no logic of its own. */
const commandModules: Array<(program: Command) => void> = [
  registerSimulate,
  registerIngest,
  registerValidate,
  registerStats,
  registerDatasets,
  registerSplit,
  registerFilter,
  registerTrain,
  registerPredict,
  registerRollout,
  registerOpe,
  registerSelect,
  registerRuns,
  registerPolicies,
  registerPromote,
  registerRollback,
  registerAudit,
  registerTokens,
  registerServe,
  registerMonitor,
  registerUi,
  registerPipeline,
  registerDemo,
];

export function buildProgram(): Command {
  const program = new Command("hindcast")
    .description("Offline reinforcement learning from logged decisions")
    .version(codeVersion())
    .showHelpAfterError();
  for (const register of commandModules) register(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch(reportAndExit);
