import type { Command } from "commander";
import { output, registryOptions, withRegistry, type RegistryFlags } from "./runs.js";
import { policyRow } from "./policies.js";

/** `hindcast promote POLICY --to shadow|canary|production [--fraction F]`: gated by the registry. */
export function register(program: Command): void {
  registryOptions(
    program
      .command("promote")
      .description("Move a policy one stage forward; the registry checks the promotion gates and refuses with the shortfall")
      .argument("<policy>", "name@version, name (latest) or sha256 prefix")
      .requiredOption("--to <stage>", "shadow, canary or production")
      .option("--fraction <f>", "canary traffic share in (0, 1]")
      .option("--deployment <name>", "deployment", "default")
      .option("--reason <text>", "why, for the stage history"),
  ).action(async (ref: string, flags: RegistryFlags & { to: "shadow" | "canary" | "production"; fraction?: string; deployment: string; reason?: string }) => {
    await withRegistry(flags, async (registry) => {
      const policy = await registry.promote(ref, flags.to, {
        deployment: flags.deployment,
        ...(flags.fraction !== undefined ? { fraction: Number(flags.fraction) } : {}),
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      output(flags, policy, policyRow(policy));
    });
  });
}
