import { loadPolicy, type Policy } from "../policy/runtime.js";
import { actionFromUnit } from "../policy/scalers.js";
import type { DecisionPolicy, PolicyLoader, PolicyOutput } from "./policy.js";

/**
 * Serving policy artifacts (src/policy/manifest.ts) through the ONNX runtime in src/policy. The runtime is opened
 * greedy: exploration belongs to the deployment, so the service asks only for the network's raw output and turns
 * it into scores or a mean action here. Loading checks the ONNX file's sha256 against the manifest, so a corrupted
 * artifact is refused at (re)load time.
 */
export function decisionPolicyFromRuntime(policy: Policy, version: string): DecisionPolicy {
  const manifest = policy.manifest;
  const space = manifest.actionSpace;
  const outputKind = manifest.onnx.outputKind;
  return {
    version,
    actionSpace: space,
    featureNames: manifest.observation.featureNames,
    support: manifest.observation.support,
    scaler: manifest.observation.scaler,
    async evaluate(observation: Float32Array): Promise<PolicyOutput> {
      const raw = await policy.forward(observation);
      if (space.kind === "discrete") {
        return { kind: "discrete", scoreKind: outputKind === "logits" ? "logits" : "q", scores: raw };
      }
      const dim = space.low.length;
      const unit = new Float32Array(dim);
      // "action": already in [-1, 1]; "gaussian": tanh-space mean first, its tanh is the greedy action.
      for (let k = 0; k < dim; k++) unit[k] = outputKind === "gaussian" ? Math.tanh(raw[k]) : raw[k];
      return { kind: "continuous", mean: actionFromUnit(unit, space.low, space.high) };
    },
    dispose: () => policy.close(),
  };
}

/**
 * A loader for artifact directories. `resolve` maps a routing reference to (directory, version id); by default the
 * reference is the directory and the version is `<algorithm>:<first 12 hex of the ONNX sha256>`.
 */
export function artifactLoader(
  resolve: (ref: string) => Promise<{ dir: string; version?: string }> | { dir: string; version?: string } = (ref) => ({ dir: ref }),
): PolicyLoader {
  return async (ref) => {
    const { dir, version } = await resolve(ref);
    const policy = await loadPolicy(dir, { exploration: { kind: "greedy" }, verifyIntegrity: true });
    return decisionPolicyFromRuntime(policy, version ?? `${policy.manifest.algorithm}:${policy.manifest.onnx.sha256.slice(0, 12)}`);
  };
}
