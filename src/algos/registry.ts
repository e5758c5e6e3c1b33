/**
 * Algorithm names -> definitions. `createAlgorithm("iql", overrides)` is the one-word switch between algorithms.
 */
import { Algorithm } from "./algorithm.js";
import type { AlgorithmDefinition } from "./algorithm.js";
import type { CommonConfig } from "./config.js";
import { resolveConfig } from "./config.js";
import { AlgoError } from "./errors.js";
import { discreteBc } from "./discrete-bc.js";
import { discreteBcq } from "./discrete-bcq.js";
import { discreteCql } from "./discrete-cql.js";
import { doubleDqn, dqn } from "./dqn.js";
import { bc } from "./bc.js";
import { td3bc } from "./td3bc.js";
import { iql } from "./iql.js";
import { cql } from "./cql.js";
import { awac } from "./awac.js";

const DEFINITIONS: Array<AlgorithmDefinition<any>> = [discreteBc, dqn, doubleDqn, discreteCql, discreteBcq, bc, td3bc, iql, cql, awac];

const BY_NAME = new Map(DEFINITIONS.map((d) => [d.name, d]));

export function algorithmNames(): string[] {
  return DEFINITIONS.map((d) => d.name);
}

export function algorithmDefinition(name: string): AlgorithmDefinition<CommonConfig> {
  const definition = BY_NAME.get(name.toLowerCase().replace(/-/g, "_"));
  if (!definition) {
    throw new AlgoError("algo_unknown", `unknown algorithm "${name}"; known: ${algorithmNames().join(", ")}`, {
      value: name,
      expected: algorithmNames(),
    });
  }
  return definition;
}

/**
 * An algorithm with its configuration resolved: paper defaults <- `base` (e.g. a config file) <- `assignments`
 * ("key=value" strings from --set). Invalid or unknown keys throw AlgoError config_invalid.
 */
export function createAlgorithm(
  name: string,
  options: { base?: Record<string, unknown>; assignments?: string[]; source?: string } = {},
): Algorithm<CommonConfig> {
  const definition = algorithmDefinition(name);
  const config = resolveConfig(definition.schema, options);
  return new Algorithm(definition, config);
}
