import type { Command } from "commander";
import { output, registryOptions, withRegistry, type RegistryFlags } from "./runs.js";

/** `hindcast rollback --reason TEXT [--deployment D] [--policy P]`: the canary if any, else production. */
export function register(program: Command): void {
  registryOptions(
    program
      .command("rollback")
      .description("Roll back the canary (or, with none, production, restoring the policy it replaced)")
      .requiredOption("--reason <text>", "why; recorded in the stage history and audit log")
      .option("--deployment <name>", "deployment", "default")
      .option("--policy <ref>", "a specific live policy (shadow, canary or production) to roll back"),
  ).action(async (flags: RegistryFlags & { reason: string; deployment: string; policy?: string }) => {
    await withRegistry(flags, async (registry) => {
      const result = await registry.rollback({ reason: flags.reason, deployment: flags.deployment, ...(flags.policy ? { policy: flags.policy } : {}) });
      output(flags, result, {
        "rolled back": `${result.rolledBack.name}@${result.rolledBack.version}`,
        restored: result.restored ? `${result.restored.name}@${result.restored.version}` : null,
      });
    });
  });
}
