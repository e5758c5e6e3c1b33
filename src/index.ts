// The public library API. Each module exports what users may build on; nothing else lives here.
export type { Transitions, ActionSpace } from "./data/transitions.js";
export { episodeCount, actionDim } from "./data/transitions.js";
export type { PolicyManifest } from "./policy/manifest.js";
export { writeColumns, formatFromPath } from "./data/write-columns.js";
export type { ColumnData, FileFormat } from "./data/write-columns.js";
export { parseSchema, loadSchema, featureNamesOf } from "./data/schema.js";
export type { DatasetSchema, DatasetSchemaInput } from "./data/schema.js";
export { DataError } from "./data/errors.js";
export { ingest, validateFiles } from "./data/ingest.js";
export type { IngestOptions, IngestReport, ValidateOptions, ProgressEvent } from "./data/ingest.js";
export { RULES } from "./data/rules.js";
export type { ValidationIssue, RuleCode } from "./data/rules.js";
export { loadTransitions, actionSpaceOf } from "./data/loader.js";
export { createSampler } from "./data/sampler.js";
export type { Sampler, Minibatch } from "./data/sampler.js";
export { validateVersion } from "./data/validate.js";
export type { VersionValidation } from "./data/validate.js";
export { datasetStats, formatStats } from "./data/stats.js";
export type { DatasetStats } from "./data/stats.js";
export { splitDataset, filterDataset } from "./data/curate.js";
export type { SplitOptions, FilterOptions } from "./data/curate.js";
export { resolveStoreDir, resolveVersion, parseVersionRef, readManifest, listDatasets, listVersions, lineage, checkDatasetName } from "./data/store.js";
export type { DatasetManifest, VersionId } from "./data/store.js";
// Numerical engine (graph, autodiff, layers, optimizers, ONNX Runtime steps, export, checkpoints): `nn.Graph`, `nn.op.add`, ...
export * as nn from "./nn/index.js";
// Registry: runs, policies, evaluations, deployments, promotion gates, audit log, tokens (SQLite or PostgreSQL by URL).
export {
  openRegistry,
  openRegistryFromEnv,
  resolveRegistryUrl,
  RegistryError,
  registryErrorStatus,
  loadGateConfig,
  parseGateConfig,
  checkGates,
  defaultGateConfig,
  stripSensitive,
  assertNoSensitiveFeatures,
  sensitiveFeaturesOf,
  requireRole,
} from "./registry/index.js";
export type {
  Registry,
  RegistryErrorCode,
  GateConfig,
  GateFailure,
  Role as RegistryRole,
  Stage as DeploymentStage,
  Principal,
  Routing,
  TrafficCounts,
  StageCounters,
  PolicyRecord,
  RunRecord,
  DatasetVersionRecord,
  EvaluationRecord,
  StepRecord,
  AuditEntry,
  PolicyLineage,
} from "./registry/index.js";
// Seeded randomness shared by every module: one generator, per-index and named-stream seeds, checkpointable state.
export { Rng, deriveSeed, streamSeed, RandomError, type RngState, type RandomErrorCode } from "./random/index.js";
// Simulators and behaviour policies: gym-like envs, logged datasets with propensities, online rollouts.
export type { Env, StepResult, Action as EnvAction, ObservationSpace } from "./envs/env.js";
export type { Policy as ActingPolicy, Controller } from "./envs/policy.js";
export { makeEnv, heuristicController, builtinPolicy, ENV_NAMES } from "./envs/registry.js";
export type { EnvOptions } from "./envs/registry.js";
export { CartPole } from "./envs/cartpole.js";
export { Acrobot } from "./envs/acrobot.js";
export { MountainCar } from "./envs/mountain-car.js";
export { Pendulum } from "./envs/pendulum.js";
export { Autoscaling } from "./envs/autoscaling.js";
export { ServerlessPrewarm } from "./envs/serverless.js";
export { AlertSuppression } from "./envs/alert-suppression.js";
export { parseBehavior, parseBehaviorSpec, loggedActionLikelihoods } from "./envs/behavior.js";
export type { BehaviorPolicy, DiscreteBehavior, ContinuousBehavior, ActionSample, BehaviorContext } from "./envs/behavior.js";
export { rollout, meanInterval } from "./envs/rollout.js";
export type { RolloutResult, RolloutOptions, Interval } from "./envs/rollout.js";
export { simulateDataset, writeSimulatedDataset, datasetColumns, datasetSchemaFor } from "./envs/simulate.js";
export type { SimulateOptions, SimulatedDataset } from "./envs/simulate.js";
export { EnvError } from "./envs/errors.js";
// Off-policy evaluation: estimators (bandit and sequential), FQE, bootstrap intervals, lower bounds, diagnostics, selection.
export { evaluatePolicy, targetProbabilities, SEQUENTIAL_ESTIMATORS, BANDIT_ESTIMATORS } from "./ope/evaluate.js";
export type { EvaluatePolicyOptions, OpeReport, EstimateReport, EstimatorName, TargetPolicy, ModelValues, BoundMethod } from "./ope/evaluate.js";
export { selectPolicies } from "./ope/select.js";
export type { SelectPoliciesOptions, SelectionResult, RankedCandidate, Candidate as OpeCandidate } from "./ope/select.js";
export { trajectoryIS, perDecisionIS, weightedIS, weightedPerDecisionIS, doublyRobust, weightedDoublyRobust, directMethod } from "./ope/sequential.js";
export type { SequentialInput, SequentialOptions } from "./ope/sequential.js";
export { ips, snips, banditDM, banditDR, sndr, switchDR } from "./ope/bandit.js";
export type { BanditInput, BanditOptions } from "./ope/bandit.js";
export { bootstrap, bootstrapLowerBound, studentTLowerBound, thomasLowerBound, thomasBound } from "./ope/intervals.js";
export type { BootstrapOptions, BootstrapResult, LowerBound, Interval as OpeInterval } from "./ope/intervals.js";
export { importanceRatios, summarizeWeights } from "./ope/weights.js";
export type { WeightSummary } from "./ope/weights.js";
export type { PointEstimate } from "./ope/estimate.js";
export { fitFqe } from "./ope/fqe.js";
export type { FqeOptions, FqeResult } from "./ope/fqe.js";
export { estimateBehaviorPolicy } from "./ope/behavior.js";
export { behaviorAsTarget, resolveTargetPolicy } from "./ope/targets.js";
export { readDatasetColumns } from "./ope/columns.js";
export { formatReport, formatSelection } from "./ope/report.js";
export { OpeError } from "./ope/errors.js";
// Decision service (src/serve)
export { createDecisionService } from "./serve/service.js";
export type { DecisionService, DecisionServiceOptions } from "./serve/service.js";
export { DecisionEngine } from "./serve/engine.js";
export type { DecideInput, Decision, DecideResult, FeedbackInput, ReloadReport, AlertEvent, TrafficCounts as ServeTrafficCounts } from "./serve/engine.js";
export { linearPolicy, constantPolicy } from "./serve/policy.js";
export type { DecisionPolicy, PolicyLoader, PolicyOutput } from "./serve/policy.js";
export { artifactLoader, decisionPolicyFromRuntime } from "./serve/artifact-loader.js";
export { MemoryRoutingSource } from "./serve/routing.js";
export type { RoutingSource, RoutingEvent, Role as ServeRole } from "./serve/routing.js";
export { RegistryRoutingSource, registryPolicyLoader, loadServeSettings, servingSettingsSchema } from "./serve/registry-routing.js";
export type { ServeSettingsFile } from "./serve/registry-routing.js";
export { deploymentSchema, routingTableSchema } from "./serve/config.js";
export type { DeploymentSpec, DeploymentInput, RoutingTable, SafetyRules, GuardConfig, Predicate, Exploration as ServeExploration } from "./serve/config.js";
export { DecisionLog, readDecisionLog, decisionLogSegments, decisionLogSchema } from "./serve/decision-log.js";
export type { DecisionRecord, FeedbackRecord, LogRecord } from "./serve/decision-log.js";
export { exportDecisionLog } from "./serve/log-dataset.js";
export { CanaryGuard } from "./serve/guard.js";
export { ServeError, serveErrorCatalogue } from "./serve/errors.js";
export type { ServeErrorCode } from "./serve/errors.js";
// Offline RL algorithms (src/algos): one Algorithm surface (fit / predict / save), a registry by name, the trainer.
export { Algorithm } from "./algos/algorithm.js";
export type { AlgorithmDefinition, Learner, LearnerContext, Batch as TrainingBatch, PolicyExport } from "./algos/algorithm.js";
export { createAlgorithm, algorithmNames, algorithmDefinition } from "./algos/registry.js";
export { resolveConfig, readConfigFile, commonConfigSchema } from "./algos/config.js";
export type { CommonConfig } from "./algos/config.js";
export { train, stepSeed } from "./algos/trainer.js";
export type { FitOptions, FitResult, Evaluator, ProgressEvent as TrainingProgressEvent } from "./algos/trainer.js";
export { AlgoError } from "./algos/errors.js";
export type { AlgoErrorCode } from "./algos/errors.js";
// Policy runtime (src/policy): load and run a policy artifact without the training code.
export { loadPolicy, openPolicy } from "./policy/runtime.js";
export type { Policy, Exploration, LoadPolicyOptions } from "./policy/runtime.js";
export { writePolicyArtifact, readPolicyArtifact, parseManifest, sha256Hex } from "./policy/artifact.js";
export type { ManifestDraft } from "./policy/artifact.js";
export { fitObservationScaler, standardize, actionToUnit, actionFromUnit } from "./policy/scalers.js";
export type { ObservationScaler } from "./policy/scalers.js";
export { PolicyError } from "./policy/errors.js";
export type { PolicyErrorCode } from "./policy/errors.js";
// Monitoring (src/monitor): drift (PSI/KL/MMD), SLO burn-rate and threshold alert rules, guide measures, generated
// Prometheus rules and Grafana dashboards, the continuous monitor, and the dashboard plugin mounted at /ui.
export { driftReport, featureDrift, mmdTest, sharedBinEdges, binCounts, binProportions, populationStabilityIndex, klDivergence } from "./monitor/drift.js";
export type { FeatureSample, FeatureDrift, DriftReport, DriftOptions, MmdOptions, MmdResult } from "./monitor/drift.js";
export { SRE_BURN_WINDOWS, sliSeries, errorRatio, burnRate, evaluateBurnRates } from "./monitor/slo.js";
export type { BurnWindow, SliSeries, BurnEvaluation, Severity as AlertSeverity } from "./monitor/slo.js";
export { monitorRulesSchema, parseMonitorRules, loadMonitorRules, AlertManager, burnRateCandidates, driftCandidate, rewardGapCandidates, sloSeries } from "./monitor/rules.js";
export type { MonitorRules, MonitorRulesInput, AlertCandidate, AlertEvent as MonitorAlertEvent, RuleName as AlertRuleName } from "./monitor/rules.js";
export { measurePolicy, measureAll, retrainCadence, percentile, pearson } from "./monitor/measures.js";
export type { PolicyMeasures, MeasureContext, RetrainCadence, LatencyPercentiles } from "./monitor/measures.js";
export { readDecisionWindow, parseDecisionLog, DecisionAccumulator, DecisionLogTail } from "./monitor/decision-log.js";
export type { MonitoredDecision, DecisionWindow } from "./monitor/decision-log.js";
export { evaluateAt, replayDecisionLog, driftByDeployment } from "./monitor/evaluate.js";
export type { Evaluation, EvaluationContext, ReplayResult } from "./monitor/evaluate.js";
export { Monitor, MonitorMetrics, streamSink, webhookSink } from "./monitor/runner.js";
export type { AlertSink, MonitorRunOptions } from "./monitor/runner.js";
export { registryContext, datasetReference } from "./monitor/context.js";
export { SERVICE_METRICS, MONITOR_METRICS, exportedSeriesNames } from "./monitor/metric-names.js";
export { prometheusRules, prometheusRulesYaml, alertmanagerRouteYaml } from "./monitor/prometheus.js";
export { grafanaDashboards, executiveDashboard, onCallDashboard, debugDashboard } from "./monitor/grafana.js";
export type { GrafanaDashboard, GrafanaPanel } from "./monitor/grafana.js";
export { dashboardPlugin } from "./monitor/ui/plugin.js";
export type { DashboardOptions } from "./monitor/ui/plugin.js";
export type { DashboardSources, ServiceView } from "./monitor/ui/data.js";
export { seedDashboardDemo } from "./monitor/ui/demo.js";
export { demoDecisionRecords, demoDecisionLogText } from "./monitor/demo.js";
export { MonitorError } from "./monitor/errors.js";
export type { MonitorErrorCode } from "./monitor/errors.js";
// The closed loop: the end-to-end demo and declarative retraining pipelines (step reuse and resume via the registry).
export { runDemo, demoGates, DEMO_SIZES } from "./pipeline/demo.js";
export type { DemoOptions, DemoResult, DemoEvent, DemoSizes, CandidateSummary } from "./pipeline/demo.js";
export { runPipeline, loadPipeline, parsePipeline, expandCandidates, pipelineSchema } from "./pipeline/pipeline.js";
export type { PipelineConfig, PipelineInput, PipelineResult, PipelineEvent, PipelineStepResult, RunPipelineOptions } from "./pipeline/pipeline.js";
export { driveTraffic } from "./pipeline/traffic.js";
export type { TrafficOptions, TrafficResult } from "./pipeline/traffic.js";
export { PipelineError } from "./pipeline/errors.js";
export type { PipelineErrorCode } from "./pipeline/errors.js";
export { recoverDecisionLog } from "./serve/decision-log.js";
export type { RecoveryReport as DecisionLogRecoveryReport } from "./serve/decision-log.js";
export type { RegistryRoutingOptions } from "./serve/registry-routing.js";
export { refitBootstrap, resampleEpisodes } from "./ope/refit.js";
export { valueRange as fqeValueRange } from "./ope/fqe.js";
export { lowSupportMass } from "./ope/evaluate.js";
