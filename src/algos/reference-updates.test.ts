// Update order checked against the reference code (CORL; d3rlpy agrees): in TD3+BC and AWAC the actor's loss is
// computed after critic_optimizer.step(), so it reads the freshly updated critic. Each expectation is recomputed here
// by a naive float64 forward pass over weights read back from the learner, independently of the nn graph.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../nn/index.js";
import type { Batch, Learner } from "./algorithm.js";
import { resolveConfig } from "./config.js";
import { allocateBatch, fitPreprocessing, gatherBatch, prepareTrainingView } from "./preprocessing.js";
import { algorithmDefinition } from "./registry.js";
import { linearContinuous, twoActionBandit } from "./toy-data.js";

const SMALL = ["hiddenSizes=[16,16]", "batchSize=16"];
const B = 16;

/** x [rows, in] @ W [in, out] + b, row-major, in float64. */
function dense(x: Float64Array, rows: number, w: ArrayLike<number>, b: ArrayLike<number>, inDim: number, outDim: number): Float64Array {
  const out = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let sum = b[o];
      for (let i = 0; i < inDim; i++) sum += x[r * inDim + i] * w[i * outDim + o];
      out[r * outDim + o] = sum;
    }
  }
  return out;
}

const relu = (x: Float64Array) => x.map((v) => Math.max(0, v));

/** Layer sizes [in, 16, 16, out]; `member` picks one network of an ensemble (weights [M, in, out], biases [M, 1, out]). */
function forward(learner: Learner, name: string, sizes: number[], x: Float64Array, rows: number, member?: number): Float64Array {
  let h = x;
  for (let layer = 0; layer + 1 < sizes.length; layer++) {
    const [inDim, outDim] = [sizes[layer], sizes[layer + 1]];
    let w = learner.parameter(`${name}.${layer}.weight`);
    let b = learner.parameter(`${name}.${layer}.bias`);
    if (member !== undefined) {
      w = w.subarray(member * inDim * outDim, (member + 1) * inDim * outDim);
      b = b.subarray(member * outDim, (member + 1) * outDim);
    }
    h = dense(h, rows, w, b, inDim, outDim);
    if (layer + 2 < sizes.length) h = relu(h);
  }
  return h;
}

/** Rows [obs_i, action_i] for the critic's input. */
function pairs(obs: Float64Array, obsDim: number, actions: Float64Array, actionDim: number, rows: number): Float64Array {
  const out = new Float64Array(rows * (obsDim + actionDim));
  for (let r = 0; r < rows; r++) {
    out.set(obs.subarray(r * obsDim, (r + 1) * obsDim), r * (obsDim + actionDim));
    out.set(actions.subarray(r * actionDim, (r + 1) * actionDim), r * (obsDim + actionDim) + obsDim);
  }
  return out;
}

/** N(0, 1) draws as a "boxMuller" noise input and common.ts's normalNoise make them: radii from the first half of the
 * U(0, 1] draws, angles from the second, cosines then sines. */
function boxMullerNormals(rng: Rng, size: number): Float64Array {
  const half = Math.ceil(size / 2);
  const u = rng.fillUniformFloat32(new Float32Array(2 * half));
  const z = new Float64Array(2 * half);
  for (let i = 0; i < half; i++) {
    const radius = Math.sqrt(-2 * Math.log(u[i]!));
    z[i] = radius * Math.cos(2 * Math.PI * u[half + i]!);
    z[half + i] = radius * Math.sin(2 * Math.PI * u[half + i]!);
  }
  return z.subarray(0, size);
}

const mean = (x: ArrayLike<number>) => Array.from(x).reduce((a, v) => a + v, 0) / x.length;

async function setUp(name: string, extra: string[]): Promise<{ learner: Learner; batch: Batch; alpha: number }> {
  const data = linearContinuous(64, 21);
  const definition = algorithmDefinition(name);
  const config = resolveConfig(definition.schema, { assignments: [...SMALL, ...extra] }) as { alpha?: number };
  const learner = await definition.build(config as never, { observationDim: 2, actionSpace: data.actionSpace, seed: 5, backend: "ort", threads: 1, stepsPerCall: 1, totalSteps: 100 });
  const view = prepareTrainingView(data, fitPreprocessing(data, config as never));
  const batch = allocateBatch(view, B);
  gatherBatch(view, Int32Array.from({ length: B }, (_, i) => 3 * i), batch);
  return { learner, batch, alpha: config.alpha ?? 0 };
}

test("TD3+BC: the delayed actor loss reads Q_1 after this step's critic update (CORL order)", async () => {
  const { learner, batch, alpha } = await setUp("td3bc", ["policyFrequency=2", "criticLearningRate=0.05"]);
  const [criticOnly] = await learner.update(batch, [new Rng(1)], 1);
  assert.ok(!("actor_loss" in criticOnly!) && !("bc_loss" in criticOnly!) && "critic_loss" in criticOnly!, "an off-step reports no actor loss");
  const obs = Float64Array.from(batch.observations);
  const actions = Float64Array.from(batch.actions);
  const policyAction = forward(learner, "actor", [2, 16, 16, 1], obs, B).map(Math.tanh); // actor before step 2
  const actorLossWith = () => {
    const q1 = forward(learner, "critic", [3, 16, 16, 1], pairs(obs, 2, policyAction, 1, B), B, 0);
    const lambda = alpha / mean(q1.map(Math.abs));
    const bc = mean(policyAction.map((p, i) => (p - actions[i]) ** 2));
    return -lambda * mean(q1) + bc;
  };
  const withCriticBefore = actorLossWith();
  const { actor_loss: actorLoss } = (await learner.update(batch, [new Rng(2)], 2))[0];
  const withCriticAfter = actorLossWith(); // the critic has now taken step 2's update
  assert.ok(Math.abs(withCriticAfter - withCriticBefore) > 1e-3, `the critic update must matter here: ${withCriticBefore} vs ${withCriticAfter}`);
  assert.ok(Math.abs(actorLoss - withCriticAfter) < 1e-4, `actor_loss ${actorLoss}, naive on the updated critic ${withCriticAfter}, on the old one ${withCriticBefore}`);
});

test("AWAC: the advantage weights read the critic after this step's update (CORL and d3rlpy order)", async () => {
  const { learner, batch } = await setUp("awac", ["criticLearningRate=0.05"]);
  const obs = Float64Array.from(batch.observations);
  const actions = Float64Array.from(batch.actions);
  // The step's noise, drawn as compileLearner does: next_noise then policy_noise, from the step's generator.
  const rng = new Rng(1);
  boxMullerNormals(rng, B);
  const policyNoise = boxMullerNormals(rng, B);
  const actorMean = forward(learner, "actor", [2, 16, 16, 1], obs, B);
  const logStd = Math.min(2, Math.max(-5, learner.parameter("actor.log_std")[0]));
  const sampled = actorMean.map((m, i) => Math.tanh(m + Math.exp(logStd) * policyNoise[i]));
  const advantageMean = () => {
    const minQ = (acts: Float64Array) => {
      const q0 = forward(learner, "critic", [3, 16, 16, 1], pairs(obs, 2, acts, 1, B), B, 0);
      const q1 = forward(learner, "critic", [3, 16, 16, 1], pairs(obs, 2, acts, 1, B), B, 1);
      return q0.map((v, i) => Math.min(v, q1[i]));
    };
    const logged = minQ(actions);
    const policy = minQ(sampled);
    return mean(logged.map((v, i) => v - policy[i]));
  };
  const before = advantageMean();
  const { advantage_mean: reported } = (await learner.update(batch, [new Rng(1)], 1))[0];
  const after = advantageMean();
  assert.ok(Math.abs(after - before) > 1e-3, `the critic update must matter here: ${before} vs ${after}`);
  assert.ok(Math.abs(reported - after) < 1e-4, `advantage_mean ${reported}, naive on the updated critic ${after}, on the old one ${before}`);
});

test("IQL: eq. 7's log-likelihood is N(a; tanh(f(s)), std) weighted by exp(beta (min Q_target - V)), clipped at 100", async () => {
  const { learner, batch } = await setUp("iql", ["rewardScaling=none", "beta=3"]);
  const obs = Float64Array.from(batch.observations);
  const actions = Float64Array.from(batch.actions);
  const pairsIn = pairs(obs, 2, actions, 1, B);
  const q0 = forward(learner, "critic_target", [3, 16, 16, 1], pairsIn, B, 0);
  const q1 = forward(learner, "critic_target", [3, 16, 16, 1], pairsIn, B, 1);
  const v = forward(learner, "value", [2, 16, 16, 1], obs, B);
  const f = forward(learner, "actor", [2, 16, 16, 1], obs, B);
  const logStd = Math.min(2, Math.max(-5, learner.parameter("actor.log_std")[0]));
  const expected = -mean(
    Array.from({ length: B }, (_, i) => {
      const weight = Math.min(Math.exp(3 * (Math.min(q0[i], q1[i]) - v[i])), 100);
      const z = (actions[i] - Math.tanh(f[i])) / Math.exp(logStd);
      return weight * (-0.5 * z * z - logStd - 0.5 * Math.log(2 * Math.PI));
    }),
  );
  const { actor_loss: actorLoss } = (await learner.update(batch, [new Rng(1)], 1))[0];
  assert.ok(Math.abs(actorLoss - expected) < 1e-4 * Math.max(1, Math.abs(expected)), `actor_loss ${actorLoss} vs naive ${expected}`);
});

test("IQL: the actor's learning rate follows CosineAnnealingLR(T_max = run length) stepped after each update", async () => {
  // Adam's first update moves a parameter by lr * g / (|g| + eps), i.e. by lr for any non-negligible gradient, so the
  // log-std's first move measures the learning rate of the step it was taken at.
  const firstMove = async (schedule: string, step: number) => {
    const { learner, batch } = await setUp("iql", ["rewardScaling=none", `actorLrSchedule=${schedule}`]);
    const before = learner.parameter("actor.log_std")[0];
    await learner.update(batch, [new Rng(step)], step);
    return Math.abs(learner.parameter("actor.log_std")[0] - before);
  };
  const lr = 3e-4; // the default actorLearningRate; the learners are built with totalSteps 100
  const expected = (step: number) => (lr / 2) * (1 + Math.cos((Math.PI * (step - 1)) / 100)); // torch's closed form
  for (const step of [1, 51, 91]) {
    const moved = await firstMove("cosine", step);
    assert.ok(Math.abs(moved - expected(step)) < 0.01 * expected(step), `step ${step}: moved ${moved}, lr ${expected(step)}`);
  }
  const constant = await firstMove("constant", 51);
  assert.ok(Math.abs(constant - lr) < 0.01 * lr, `constant schedule at step 51: moved ${constant}`);
});

test("CQL: the conservative term is the importance-sampled log-sum-exp of appendix F minus Q of the data, per critic", async () => {
  const N = 2;
  const weight = 5;
  const { learner, batch } = await setUp("cql", [`nActionSamples=${N}`, `conservativeWeight=${weight}`]);
  const obs = Float64Array.from(batch.observations);
  const nextObs = Float64Array.from(batch.nextObservations);
  const actions = Float64Array.from(batch.actions);
  // The step's noise, in compileLearner's order: next_noise, policy_noise, random_actions, sample_noise, next_sample_noise.
  const rng = new Rng(1);
  boxMullerNormals(rng, B);
  boxMullerNormals(rng, B);
  const random = Float64Array.from(rng.fillUniformFloat32(new Float32Array(B * N)), (u) => 2 * u - 1);
  const sampleNoise = boxMullerNormals(rng, B * N);
  const nextSampleNoise = boxMullerNormals(rng, B * N);
  // tanh-Gaussian samples for row b*N + n from pi(.|x_b) (state-dependent log-std, clipped to [-20, 2]).
  const samples = (states: Float64Array, noise: Float64Array) => {
    const out = forward(learner, "actor", [2, 16, 16, 2], states, B);
    const action = new Float64Array(B * N);
    const logProb = new Float64Array(B * N);
    for (let b = 0; b < B; b++) {
      const logStd = Math.min(2, Math.max(-20, out[2 * b + 1]));
      for (let n = 0; n < N; n++) {
        const eps = noise[b * N + n];
        const u = out[2 * b] + Math.exp(logStd) * eps;
        action[b * N + n] = Math.tanh(u);
        logProb[b * N + n] = -0.5 * eps * eps - logStd - 0.5 * Math.log(2 * Math.PI) - Math.log(1 - Math.tanh(u) ** 2);
      }
    }
    return { action, logProb };
  };
  const current = samples(obs, sampleNoise);
  const next = samples(nextObs, nextSampleNoise);
  const repeated = new Float64Array(B * N * 2);
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) repeated.set(obs.subarray(2 * b, 2 * b + 2), 2 * (b * N + n));
  let expected = 0;
  for (const member of [0, 1]) {
    const q = (states: Float64Array, acts: Float64Array, rows: number) => forward(learner, "critic", [3, 16, 16, 1], pairs(states, 2, acts, 1, rows), rows, member);
    const qData = q(obs, actions, B);
    const qRandom = q(repeated, random, B * N);
    const qCurrent = q(repeated, current.action, B * N);
    const qNext = q(repeated, next.action, B * N);
    let gap = 0;
    for (let b = 0; b < B; b++) {
      const terms: number[] = [];
      for (let n = 0; n < N; n++) {
        const r = b * N + n;
        terms.push(qRandom[r] + Math.log(2), qCurrent[r] - current.logProb[r], qNext[r] - next.logProb[r]); // uniform density 1/2 on [-1, 1]
      }
      const top = Math.max(...terms);
      gap += top + Math.log(terms.reduce((a, t) => a + Math.exp(t - top), 0)) - qData[b];
    }
    expected += (weight * gap) / B;
  }
  const { conservative_loss: reported } = (await learner.update(batch, [new Rng(1)], 1))[0];
  assert.ok(Math.abs(reported - expected) < 1e-3 * Math.max(1, Math.abs(expected)), `conservative_loss ${reported} vs naive ${expected}`);
});

test("discrete CQL and BCQ: double-DQN / support-masked targets, Huber TD loss and the CQL(H) term match a naive computation", async () => {
  const data = twoActionBandit(64, 22);
  const huber = (e: number) => (Math.abs(e) < 1 ? 0.5 * e * e : Math.abs(e) - 0.5);
  const logSumExp = (xs: number[]) => Math.max(...xs) + Math.log(xs.reduce((a, x) => a + Math.exp(x - Math.max(...xs)), 0));
  for (const name of ["discrete_cql", "discrete_bcq"]) {
    const definition = algorithmDefinition(name);
    // tau 0 keeps the target at its initial copy while a large first step moves the online network away from it,
    // so the double-DQN argmax (online) and the evaluation (target) differ at step 2.
    const config = resolveConfig(definition.schema, { assignments: [...SMALL, "tau=0", "learningRate=0.05", ...(name === "discrete_bcq" ? ["threshold=0.9"] : [])] });
    const learner = await definition.build(config as never, { observationDim: 2, actionSpace: data.actionSpace, seed: 6, backend: "ort", threads: 1, stepsPerCall: 1, totalSteps: 100 });
    const view = prepareTrainingView(data, fitPreprocessing(data, config as never));
    const batch = allocateBatch(view, B);
    gatherBatch(view, Int32Array.from({ length: B }, (_, i) => 2 * i), batch);
    batch.terminals.fill(0); // bootstrap everywhere
    new Rng(9).fillNormal(batch.nextObservations);
    await learner.update(batch, [new Rng(1)], 1);

    const obs = Float64Array.from(batch.observations);
    const nextObs = Float64Array.from(batch.nextObservations);
    const q = forward(learner, "q", [2, 16, 16, 2], obs, B);
    const qNext = forward(learner, "q", [2, 16, 16, 2], nextObs, B);
    const qTargetNext = forward(learner, "q_target", [2, 16, 16, 2], nextObs, B);
    const imitationNext = name === "discrete_bcq" ? forward(learner, "imitation", [2, 16, 16, 2], nextObs, B) : undefined;
    let td = 0;
    let conservative = 0;
    let disagreements = 0;
    for (let b = 0; b < B; b++) {
      let allowed = [true, true];
      if (imitationNext) {
        const logits = [imitationNext[2 * b], imitationNext[2 * b + 1]];
        const probs = logits.map((l) => Math.exp(l - logSumExp(logits)));
        allowed = probs.map((p) => p / Math.max(...probs) > 0.9); // BCQ eq. 11
      }
      const candidates = [0, 1].filter((a) => allowed[a]);
      const nextAction = candidates.reduce((best, a) => (qNext[2 * b + a] > qNext[2 * b + best] ? a : best), candidates[0]);
      if (nextAction !== (qTargetNext[2 * b + 1] > qTargetNext[2 * b] ? 1 : 0)) disagreements++;
      const target = batch.rewards[b] + 0.99 * qTargetNext[2 * b + nextAction];
      const qData = q[2 * b + batch.actions[b]];
      td += huber(qData - target) / B;
      conservative += (logSumExp([q[2 * b], q[2 * b + 1]]) - qData) / B;
    }
    assert.ok(disagreements > 0, `${name}: the test needs rows where the online/masked argmax differs from the target's`);
    const out = (await learner.update(batch, [new Rng(2)], 2))[0];
    assert.ok(Math.abs(out.td_loss - td) < 1e-4 * Math.max(1, td), `${name}: td_loss ${out.td_loss} vs naive ${td}`);
    if (name === "discrete_cql") assert.ok(Math.abs(out.conservative_loss - conservative) < 1e-4, `conservative ${out.conservative_loss} vs naive ${conservative}`);
  }
});
