import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MANIFEST_FILE, readPolicyArtifact, sha256Hex } from "../../policy/artifact.js";
import { loadGateConfig, RegistryError, type PolicyRecord, type Routing, type Stage } from "../../registry/index.js";
import { output, registryOptions, withRegistry, type RegistryFlags } from "./runs.js";

/** `hindcast policies list|show|lineage|register|production|routing|kill-switch|trained-on|gates`. */
export function register(program: Command): void {
  const policies = program.command("policies").description("Policy versions, their lineage, deployments and promotion gates");

  registryOptions(
    policies
      .command("list")
      .description("List policy versions")
      .option("--name <name>", "only this policy name")
      .option("--stage <stage>", "registered, shadow, canary, production, retired or rolled_back")
      .option("--deployment <name>", "only policies in this deployment"),
  ).action(async (flags: RegistryFlags & { name?: string; stage?: Stage; deployment?: string }) => {
    await withRegistry(flags, async (registry) => {
      const list = await registry.listPolicies({
        ...(flags.name ? { name: flags.name } : {}),
        ...(flags.stage ? { stage: flags.stage } : {}),
        ...(flags.deployment ? { deployment: flags.deployment } : {}),
      });
      output(flags, list, list.map(policyRow));
    });
  });

  registryOptions(
    policies.command("show").description("Show one policy version").argument("<policy>", "name@version, name (latest) or sha256 prefix"),
  ).action(async (ref: string, flags: RegistryFlags) => {
    await withRegistry(flags, async (registry) => {
      const policy = await registry.getPolicy(ref);
      output(flags, policy, { ...policyRow(policy), sha256: policy.sha256, artifact: policy.artifactPath, since: policy.stageSince, created: `${policy.createdAt} by ${policy.createdBy}` });
    });
  });

  registryOptions(
    policies
      .command("lineage")
      .description("How a policy was made: dataset version and hash, run, config, code version, evaluations, stage history")
      .argument("<policy>", "name@version, name (latest) or sha256 prefix"),
  ).action(async (ref: string, flags: RegistryFlags) => {
    await withRegistry(flags, async (registry) => {
      const lineage = await registry.policyLineage(ref);
      const { policy, run, dataset } = lineage;
      output(flags, lineage, {
        policy: `${policy.name}@${policy.version} (${policy.stage}${policy.deployment ? ` in ${policy.deployment}` : ""})`,
        sha256: policy.sha256,
        dataset: dataset ? `${dataset.name}@${dataset.version} ${dataset.hash}` : null,
        run: run ? `${run.id} ${run.algorithm} seed ${run.seed} (${run.status})` : null,
        code: run?.codeVersion ?? null,
        config: run?.config ?? null,
        evaluations: lineage.evaluations.map((e) => `${e.estimator} on ${e.split} of ${e.dataset.name}@${e.dataset.version}: ${e.value} [${e.lower}, ${e.upper}]`).join("; ") || null,
        history: lineage.stageHistory.map((h) => `${h.at} ${h.fromStage}->${h.toStage} by ${h.actor}: ${h.reason}`).join("; ") || null,
      });
    });
  });

  registryOptions(
    policies
      .command("register")
      .description("Register a policy artifact directory (content-addressed by the sha256 of its manifest, which pins the ONNX file)")
      .argument("<dir>", "artifact directory (manifest.json + policy.onnx)")
      .requiredOption("--name <name>", "policy name; versions are numbered per name")
      .option("--run <id>", "the run that produced it")
      .option("--allow-sensitive", "admit features the training dataset flags sensitive (audited)"),
  ).action(async (dir: string, flags: RegistryFlags & { name: string; run?: string; allowSensitive?: boolean }) => {
    const { manifest } = await readPolicyArtifact(dir);
    const sha256 = sha256Hex(await readFile(join(dir, MANIFEST_FILE)));
    await withRegistry(flags, async (registry) => {
      const policy = await registry.registerPolicy({
        name: flags.name,
        sha256,
        artifactPath: resolve(dir),
        ...(flags.run ? { runId: Number(flags.run) } : {}),
        manifest: manifest as unknown as Record<string, unknown>,
        featureNames: manifest.observation.featureNames,
        allowSensitive: flags.allowSensitive === true,
      });
      output(flags, policy, policyRow(policy));
    });
  });

  registryOptions(policies.command("production").description("What is in production now, per deployment, and since when")).action(
    async (flags: RegistryFlags) => {
      await withRegistry(flags, async (registry) => {
        const live = await registry.inProduction();
        output(flags, live, live.map((l) => ({ deployment: l.deployment, policy: `${l.policy.name}@${l.policy.version}`, since: l.since, sha256: l.policy.sha256.slice(0, 12) })));
      });
    },
  );

  registryOptions(
    policies.command("routing").description("Current routing: production, canary with fraction, shadows").option("--deployment <name>", "one deployment (default: all)"),
  ).action(async (flags: RegistryFlags & { deployment?: string }) => {
    await withRegistry(flags, async (registry) => {
      const routes = flags.deployment ? [await registry.routing(flags.deployment)] : await registry.allRouting();
      output(flags, routes, routes.map(routingRow));
    });
  });

  registryOptions(
    policies
      .command("kill-switch")
      .description("Show the shared kill switch, or turn it on/off (every decision service replica then serves its fallback)")
      .argument("[state]", "on or off")
      .option("--reason <text>", "why; required to change it"),
  ).action(async (state: string | undefined, flags: RegistryFlags & { reason?: string }) => {
    await withRegistry(flags, async (registry) => {
      if (state !== undefined) {
        if (state !== "on" && state !== "off") throw new RegistryError("invalid_input", `state must be on or off, got ${state}`, { field: "state", value: state });
        if (!flags.reason) throw new RegistryError("invalid_input", "--reason is required to change the kill switch", { field: "reason" });
        await registry.setKillSwitch(state === "on", flags.reason);
      }
      const on = await registry.killSwitch();
      output(flags, { killSwitch: on }, { "kill switch": on ? "on" : "off" });
    });
  });

  registryOptions(
    policies
      .command("trained-on")
      .description("What was trained on a dataset version: runs and the policies they produced")
      .argument("<dataset>", "NAME@VERSION"),
  ).action(async (ref: string, flags: RegistryFlags) => {
    const at = ref.lastIndexOf("@");
    const name = at > 0 ? ref.slice(0, at) : ref;
    const version = at > 0 ? Number(ref.slice(at + 1)) : Number.NaN;
    await withRegistry(flags, async (registry) => {
      const usage = await registry.trainedOn({ name, version });
      output(flags, usage, [
        ...usage.runs.map((r) => ({ kind: "run", id: String(r.id), detail: `${r.algorithm} seed ${r.seed} ${r.status}` })),
        ...usage.policies.map((p) => ({ kind: "policy", id: `${p.name}@${p.version}`, detail: `${p.stage} (run ${p.runId})` })),
      ]);
    });
  });

  registryOptions(
    policies
      .command("gates")
      .description("Show the promotion gates, or store new ones from a YAML/JSON file (admin)")
      .option("--set <file>", "gate file to validate and store"),
  ).action(async (flags: RegistryFlags & { set?: string }) => {
    const config = flags.set ? loadGateConfig(flags.set) : undefined;
    await withRegistry(flags, async (registry) => {
      if (config) await registry.setGates(config);
      const gates = await registry.gates();
      output(flags, gates, {
        shadow: gates.shadow.opeLowerBound
          ? `OPE lower bound on "${gates.shadow.opeLowerBound.split}"${gates.shadow.opeLowerBound.estimator ? ` (${gates.shadow.opeLowerBound.estimator})` : ""} >= baseline + ${gates.shadow.opeLowerBound.margin}`
          : "no gate",
        canary: `>= ${gates.canary.minShadowDecisions} shadow decisions, <= ${gates.canary.maxShadowSafetyViolations} safety violations, fraction <= ${gates.canary.maxFraction}`,
        production: `canary >= ${gates.production.canaryWindowSeconds} s and >= ${gates.production.minCanaryDecisions} decisions, <= ${gates.production.maxCanaryGuardFailures} guard failures, <= ${gates.production.maxCanarySafetyViolations} safety violations`,
      });
    });
  });
}

export function policyRow(p: PolicyRecord): Record<string, unknown> {
  return {
    policy: `${p.name}@${p.version}`,
    stage: p.stage,
    deployment: p.deployment,
    fraction: p.fraction,
    run: p.runId,
    sha256: p.sha256.slice(0, 12),
  };
}

function routingRow(r: Routing): Record<string, unknown> {
  const name = (p: PolicyRecord) => `${p.name}@${p.version}`;
  return {
    deployment: r.deployment,
    production: r.production ? `${name(r.production.policy)} since ${r.production.since}` : null,
    canary: r.canary ? `${name(r.canary.policy)} at ${r.canary.fraction}` : null,
    shadows: r.shadows.map((s) => name(s.policy)).join(", ") || null,
    version: r.routingVersion,
  };
}
