import type { Command } from "commander";
import { output, registryOptions, withRegistry, type RegistryFlags } from "./runs.js";

/** `hindcast audit [--since ISO] [--actor A] [--action A] [--subject S] [--limit N]`. */
export function register(program: Command): void {
  registryOptions(
    program
      .command("audit")
      .description("The registry's append-only audit log (oldest first of the latest --limit entries)")
      .option("--since <time>", "ISO time, e.g. 2026-01-31T00:00:00Z")
      .option("--actor <name>", "only this actor")
      .option("--action <action>", "e.g. policy.promote, policy.rollback, token.create")
      .option("--subject <subject>", "e.g. pricing@3, run:12")
      .option("--limit <n>", "at most this many", "100"),
  ).action(async (flags: RegistryFlags & { since?: string; actor?: string; action?: string; subject?: string; limit: string }) => {
    await withRegistry(flags, async (registry) => {
      const entries = await registry.audit({
        ...(flags.since ? { since: flags.since } : {}),
        ...(flags.actor ? { actor: flags.actor } : {}),
        ...(flags.action ? { action: flags.action } : {}),
        ...(flags.subject ? { subject: flags.subject } : {}),
        limit: Number(flags.limit),
      });
      output(flags, entries, entries.map((e) => ({ id: e.id, at: e.at, actor: e.actor, host: e.host, action: e.action, subject: e.subject, details: e.details })));
    });
  });
}
