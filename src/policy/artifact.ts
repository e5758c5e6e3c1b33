/**
 * Reading and writing a policy artifact directory: `policy.onnx` + `manifest.json` (see manifest.ts).
 * The manifest is validated once here, at the edge; the sha256 of the ONNX file ties the two together.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { PolicyManifest } from "./manifest.js";
import { PolicyError } from "./errors.js";

export const MANIFEST_FILE = "manifest.json";
export const ONNX_FILE = "policy.onnx";

const finite = z.number().finite();

const actionSpaceSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("discrete"), n: z.number().int().min(1) }),
  z.object({ kind: z.literal("continuous"), low: z.array(finite).min(1), high: z.array(finite).min(1) }),
]);

export const manifestSchema = z.object({
  format: z.literal("hindcast.policy/v1"),
  algorithm: z.string().min(1),
  actionSpace: actionSpaceSchema,
  observation: z.object({
    dim: z.number().int().min(1),
    featureNames: z.array(z.string()),
    scaler: z.object({ mean: z.array(finite), std: z.array(finite.positive()) }),
    support: z.object({
      min: z.array(z.number()),
      max: z.array(z.number()),
      whitening: z
        .object({ mean: z.array(finite), matrix: z.array(finite), threshold: finite })
        .optional(),
    }),
  }),
  onnx: z.object({
    file: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    input: z.literal("obs"),
    output: z.string().min(1),
    outputKind: z.enum(["q", "logits", "action", "gaussian"]),
  }),
  config: z.record(z.string(), z.unknown()),
  seed: z.number().int(),
  dataset: z.object({ name: z.string(), version: z.number().int(), hash: z.string() }).optional(),
  codeVersion: z.string(),
  metrics: z.record(z.string(), z.number()),
  createdAt: z.string(),
});

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Validates shape and internal consistency (vector lengths agree with the declared dimensions). */
export function parseManifest(value: unknown, file = MANIFEST_FILE): PolicyManifest {
  const parsed = manifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PolicyError("policy_manifest_invalid", `${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}`, {
      file,
      field: issue.path.join("."),
      issues: parsed.error.issues.map((i) => ({ code: i.code, path: i.path.join("."), message: i.message })),
    });
  }
  const manifest = parsed.data as PolicyManifest;
  const dim = manifest.observation.dim;
  const vectors: Array<[string, number[]]> = [
    ["observation.scaler.mean", manifest.observation.scaler.mean],
    ["observation.scaler.std", manifest.observation.scaler.std],
    ["observation.support.min", manifest.observation.support.min],
    ["observation.support.max", manifest.observation.support.max],
  ];
  for (const [field, vector] of vectors) {
    if (vector.length !== dim) {
      throw new PolicyError("policy_manifest_invalid", `${file}: ${field} has ${vector.length} entries, expected ${dim}`, {
        file,
        field,
        value: vector.length,
        expected: dim,
      });
    }
  }
  const space = manifest.actionSpace;
  if (space.kind === "continuous") {
    if (space.low.length !== space.high.length || space.low.some((l, j) => !(l < space.high[j]))) {
      throw new PolicyError("policy_manifest_invalid", `${file}: actionSpace needs low < high with equal lengths`, {
        file,
        field: "actionSpace",
      });
    }
    if (manifest.onnx.outputKind === "q" || manifest.onnx.outputKind === "logits") {
      throw new PolicyError("policy_manifest_invalid", `${file}: outputKind ${manifest.onnx.outputKind} needs a discrete action space`, {
        file,
        field: "onnx.outputKind",
      });
    }
  } else if (manifest.onnx.outputKind === "action" || manifest.onnx.outputKind === "gaussian") {
    throw new PolicyError("policy_manifest_invalid", `${file}: outputKind ${manifest.onnx.outputKind} needs a continuous action space`, {
      file,
      field: "onnx.outputKind",
    });
  }
  return manifest;
}

export type ManifestDraft = Omit<PolicyManifest, "format" | "onnx" | "createdAt"> & {
  onnx: Pick<PolicyManifest["onnx"], "output" | "outputKind">;
  createdAt?: string;
};

/**
 * Writes `policy.onnx` and `manifest.json` into `dir` (created if needed). The manifest is written last through a
 * temporary file and a rename, so a reader never sees a manifest whose ONNX file is missing or stale.
 */
export async function writePolicyArtifact(dir: string, onnxModel: Uint8Array, draft: ManifestDraft): Promise<PolicyManifest> {
  await mkdir(dir, { recursive: true });
  const manifest = parseManifest({
    ...draft,
    format: "hindcast.policy/v1",
    onnx: { file: ONNX_FILE, sha256: sha256Hex(onnxModel), input: "obs", ...draft.onnx },
    createdAt: draft.createdAt ?? new Date().toISOString(),
  });
  await writeFile(join(dir, ONNX_FILE), onnxModel);
  const tmp = join(dir, `${MANIFEST_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + "\n");
  await rename(tmp, join(dir, MANIFEST_FILE));
  return manifest;
}

/** Reads and validates the manifest and the ONNX bytes; checks the sha256 unless told not to. */
export async function readPolicyArtifact(
  dir: string,
  options: { verifyIntegrity?: boolean } = {},
): Promise<{ manifest: PolicyManifest; onnxModel: Uint8Array }> {
  const manifestPath = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, "utf8");
  } catch {
    throw new PolicyError("policy_artifact_missing", `no ${MANIFEST_FILE} in ${dir}`, { file: manifestPath });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PolicyError("policy_manifest_invalid", `${manifestPath}: not JSON (${(error as Error).message})`, {
      file: manifestPath,
    });
  }
  const manifest = parseManifest(json, manifestPath);
  if (manifest.onnx.file.includes("/") || manifest.onnx.file.includes("\\") || manifest.onnx.file.startsWith(".")) {
    throw new PolicyError("policy_manifest_invalid", `${manifestPath}: onnx.file must be a plain file name`, {
      file: manifestPath,
      field: "onnx.file",
      value: manifest.onnx.file,
    });
  }
  const onnxPath = join(dir, manifest.onnx.file);
  let onnxModel: Uint8Array;
  try {
    onnxModel = new Uint8Array(await readFile(onnxPath));
  } catch {
    throw new PolicyError("policy_artifact_missing", `no ${manifest.onnx.file} in ${dir}`, { file: onnxPath });
  }
  if (options.verifyIntegrity !== false) {
    const actual = sha256Hex(onnxModel);
    if (actual !== manifest.onnx.sha256) {
      throw new PolicyError("policy_integrity_mismatch", `${onnxPath}: sha256 ${actual} does not match the manifest`, {
        file: onnxPath,
        value: actual,
        expected: manifest.onnx.sha256,
      });
    }
  }
  return { manifest, onnxModel };
}
