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
  /** The isolation mode the program ran under (bwrap, firejail, sandbox-exec, or weak; see isolation.ts). */
  isolation: string;
  /** Set by judges that mark weak-isolation verdicts explicitly. */
  weak_isolation?: boolean;
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
