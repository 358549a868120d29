/** A programming problem as both the generator prompt and the critic see it. */

/** APPS-style tests: standard-input when `fn_name` is absent, call-based otherwise. */
export interface Tests {
  inputs: unknown[];
  outputs: unknown[];
  fn_name?: string;
}

export type ProblemKind = 'standard_input' | 'call_based';

export interface Problem {
  question: string;
  kind: ProblemKind;
  /** Starter code for call-based problems (function or `class Solution` signature). */
  starterCode?: string;
  /** Examples parsed from the statement or given by the user; run in the sandbox. */
  tests?: Tests;
}

/** The prompt templates the critic was trained with (bundle manifest or built-in default). */
export interface PromptTemplates {
  system: string;
  standard_input: string;
  call_based: string;
}
