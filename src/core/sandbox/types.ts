import type { Tests } from '../problem/types';

/** One request of python-sandbox/judge.py's JSON Lines protocol (docs/ARCHITECTURE.md). */
export interface JudgeRequest {
  id: string;
  code: string;
  tests: Tests;
  timeout_s?: number;
  memory_mb?: number;
  compare?: 'apps' | 'strict';
}

export type Verdict =
  | 'pass'
  | 'wrong_answer'
  | 'runtime_error'
  | 'timeout'
  | 'memory_limit'
  | 'output_limit'
  | 'compile_error';

export interface JudgeVerdict {
  id: string;
  passed: boolean;
  results: Array<boolean | -1 | -2>;
  verdicts: Verdict[];
  seconds: number;
  /** The mechanism the program ran under; `weak` is the escapable in-process guard, run only on request. */
  isolation: 'bwrap' | 'firejail' | 'sandbox-exec' | 'weak';
  /** True exactly when `isolation` is `weak`: the code was not sandboxed, and verdicts must say so. */
  weak_isolation: boolean;
  stderr: string;
  /** Strict comparison only: what the official APPS harness would have said per test. */
  apps_results?: Array<boolean | -1 | -2>;
  /** Strict comparison only: whether APPS would have passed it (its false positives). */
  apps_passed?: boolean;
}

export interface JudgeError {
  id: string | null;
  error: string;
}

export type JudgeResponse = JudgeVerdict | JudgeError;
