import { Command } from "commander";
import { reportAndExit } from "./errors.js";
import { codeVersion } from "./version.js";
import { register as registerOpe } from "./commands/ope.js";
import { register as registerSelect } from "./commands/select.js";

/** Each command module adds its subcommand(s) to the program; the CLI has no logic of its own. */
const commandModules: Array<(program: Command) => void> = [registerOpe, registerSelect];

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
