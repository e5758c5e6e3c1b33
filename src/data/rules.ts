/**
 * The validation rules, one stable code each. Row rules send a row (and the rest of its episode) to quarantine;
 * file and dataset rules either fail the ingest (fatal) or are reported as warnings.
 */
export interface ValidationIssue {
  code: string;
  /** Source file; null for dataset-level findings. */
  file: string | null;
  /** 1-based data row within the file (header excluded); null for file- or dataset-level findings. */
  row: number | null;
  field: string | null;
  value: string | null;
  expected: string | null;
  message: string;
}

export const RULES = {
  missing_column: "a column named by the schema is absent from the file (fatal)",
  extra_column: "the file has a column the schema does not name (ignored)",
  wrong_type: "value cannot be read as the declared type",
  missing_value: "required value is empty/null",
  non_finite: "value is NaN or infinite",
  invalid_step: "step is not a non-negative integer",
  missing_episode_id: "row has no episode id",
  reward_out_of_range: "reward outside the declared range",
  action_out_of_space: "action outside the action space",
  propensity_out_of_range: "behaviour probability outside (0, 1]",
  log_density_not_finite: "behaviour log-density is NaN or infinite",
  duplicate_step: "(episode, step) appears more than once",
  step_disorder: "step is lower than the previous step of its episode",
  step_gap: "steps of the episode skip a value",
  terminal_not_last: "terminal step is not the episode's last",
  truncated_not_last: "truncated step is not the episode's last",
  next_observation_mismatch: "next observation disagrees with the observation of the following step",
  episode_rejected: "another row of the same episode was rejected",
  all_missing_feature: "a feature has no values at all (fatal)",
  constant_feature: "a feature has one value everywhere (warning)",
  empty_episode: "an episode has no accepted transitions left (warning)",
} as const;

export type RuleCode = keyof typeof RULES;

export function issueMessage(code: string, field: string | null, value: string | null, expected: string | null): string {
  const description = (RULES as Record<string, string>)[code] ?? code;
  const parts = [field !== null ? `${field}` : null, value !== null ? `= ${value}` : null, expected !== null ? `(expected ${expected})` : null].filter(Boolean);
  return parts.length > 0 ? `${description}: ${parts.join(" ")}` : description;
}
