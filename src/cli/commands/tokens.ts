import type { Command } from "commander";
import { ROLES, type Role } from "../../registry/index.js";
import { output, registryOptions, withRegistry, type RegistryFlags } from "./runs.js";

/** `hindcast tokens create|list|revoke`: API tokens for a shared registry and the HTTP admin API. */
export function register(program: Command): void {
  const tokens = program.command("tokens").description("API tokens (stored hashed) with roles reader, trainer, deployer, admin");

  registryOptions(
    tokens
      .command("create")
      .description("Create a token and print its secret once (the first token of a registry must be admin)")
      .argument("<name>", "who or what will use it, e.g. ci or decision-service")
      .requiredOption("--role <role>", ROLES.join(", ")),
  ).action(async (name: string, flags: RegistryFlags & { role: Role }) => {
    await withRegistry(flags, async (registry) => {
      const created = await registry.createToken(name, flags.role);
      output(flags, created, { id: created.info.id, name: created.info.name, role: created.info.role, token: created.token });
    });
  });

  registryOptions(tokens.command("list").description("List tokens (never their secrets)")).action(async (flags: RegistryFlags) => {
    await withRegistry(flags, async (registry) => {
      const list = await registry.listTokens();
      output(flags, list, list.map((t) => ({ id: t.id, name: t.name, role: t.role, created: t.createdAt, revoked: t.revokedAt })));
    });
  });

  registryOptions(tokens.command("whoami").description("Who this token (or, without tokens, the local user) acts as")).action(
    async (flags: RegistryFlags) => {
      await withRegistry(flags, async (registry) => {
        const who = await registry.whoami();
        output(flags, who, { name: who.name, role: who.role, token: who.tokenId });
      });
    },
  );

  registryOptions(tokens.command("revoke").description("Revoke a token").argument("<id>", "token id")).action(async (id: string, flags: RegistryFlags) => {
    await withRegistry(flags, async (registry) => {
      const info = await registry.revokeToken(Number(id));
      output(flags, info, { id: info.id, name: info.name, role: info.role, revoked: info.revokedAt });
    });
  });
}
