/** Names of the built-in simulators, their constructors and their heuristic controllers. */
import { Acrobot, acrobotController } from "./acrobot.js";
import { AlertSuppression, alertSuppressionController } from "./alert-suppression.js";
import { Autoscaling, autoscalingController, autoscalingTargetController } from "./autoscaling.js";
import { CartPole, cartPoleController } from "./cartpole.js";
import { parseBehavior, type BehaviorPolicy } from "./behavior.js";
import type { Env } from "./env.js";
import { EnvError } from "./errors.js";
import { MountainCar, mountainCarController } from "./mountain-car.js";
import { Pendulum, pendulumController } from "./pendulum.js";
import type { Controller } from "./policy.js";
import { ServerlessPrewarm, serverlessController } from "./serverless.js";

export interface EnvOptions {
  /** Override the default time limit (steps). */
  maxEpisodeSteps?: number;
}

interface EnvEntry {
  make(options: EnvOptions): Env;
  controller: Controller;
  aliases: string[];
}

const ENTRIES: Record<string, EnvEntry> = {
  "CartPole-v1": { make: (o) => new CartPole(o), controller: cartPoleController, aliases: ["cartpole"] },
  "Acrobot-v1": { make: (o) => new Acrobot(o), controller: acrobotController, aliases: ["acrobot"] },
  "MountainCar-v0": { make: (o) => new MountainCar(o), controller: mountainCarController, aliases: ["mountaincar", "mountain-car"] },
  "Pendulum-v1": { make: (o) => new Pendulum(o), controller: pendulumController, aliases: ["pendulum"] },
  autoscaling: { make: (o) => new Autoscaling(o), controller: autoscalingController, aliases: [] },
  "autoscaling-target": { make: (o) => new Autoscaling({ ...o, actions: "target" }), controller: autoscalingTargetController, aliases: [] },
  "serverless-prewarm": { make: (o) => new ServerlessPrewarm(o), controller: serverlessController, aliases: ["serverless"] },
  "alert-suppression": { make: (o) => new AlertSuppression(o), controller: alertSuppressionController, aliases: ["alerts"] },
};

/** Registry names of every built-in env. */
export const ENV_NAMES: readonly string[] = Object.keys(ENTRIES);

function entryFor(name: string): [string, EnvEntry] {
  const wanted = name.toLowerCase();
  for (const [key, entry] of Object.entries(ENTRIES)) {
    if (key.toLowerCase() === wanted || entry.aliases.includes(wanted)) return [key, entry];
  }
  throw new EnvError("unknown_env", `unknown env "${name}"; known: ${ENV_NAMES.join(", ")}`, { env: name });
}

/** A new instance of a built-in env, by registry name or alias (case-insensitive). */
export function makeEnv(name: string, options: EnvOptions = {}): Env {
  return entryFor(name)[1].make(options);
}

/** The heuristic controller written for a built-in env. */
export function heuristicController(name: string): Controller {
  return entryFor(name)[1].controller;
}

/**
 * A built-in policy for online use by its spec: "heuristic" is the env's deterministic controller (in any action
 * space); any other spec is a behaviour policy (see behavior.ts).
 */
export function builtinPolicy(spec: string, env: Env): Controller | BehaviorPolicy {
  if (spec.trim().toLowerCase() === "heuristic") return heuristicController(env.name);
  return parseBehavior(spec, env, heuristicController(env.name));
}
