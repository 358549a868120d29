/**
 * How strongly the judge isolates model-written code, in one place: the judge's mode names,
 * which of them are weak, and the errors for a judge that cannot isolate. Strong modes
 * (bwrap, firejail, sandbox-exec) use the platform's own sandbox; the weak mode is an
 * in-process guard with rlimits that a program can escape, and runs only when the user
 * explicitly allows it.
 */
import type { JudgeResponse } from './types';

/** What the judge is asked for by default: a strong mechanism, or a refusal that says what is missing. */
export const AUTO_ISOLATION = 'auto';
/** The judge's name for the escapable guard. */
export const WEAK_ISOLATION = 'weak';
export function isWeakMode(mode: string | undefined): boolean {
  return mode === WEAK_ISOLATION;
}

/** Whether a verdict was produced under weak isolation (marked by the mode name or by `weak_isolation`). */
export function isWeakIsolation(response: JudgeResponse | undefined): boolean {
  if (!response || 'error' in response) return false;
  return response.weak_isolation === true || isWeakMode(response.isolation);
}

/** Said wherever a weak verdict is shown (picker, sandbox panel, CLI). */
export const WEAK_ISOLATION_LABEL = 'weak isolation';

export const WEAK_ISOLATION_WARNING =
  'PassLens is running model-written code with weak isolation (an in-process guard with resource limits): ' +
  'a program can escape it and read or change your files or reach the network. Verdicts say "weak isolation". ' +
  'For a real sandbox install bubblewrap or firejail (Linux), or run VS Code in WSL or a dev container (Windows).';

/**
 * The judge cannot isolate here and weak isolation is not allowed (or the judge does not
 * start at all). `message` is the judge's own explanation with the fix; nothing was run.
 */
export class SandboxUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxUnavailableError';
  }
}

/** How to allow weak isolation, appended to refusals (the editor and the CLI name their own switch). */
export function allowWeakHint(how: string): string {
  return `To run candidates anyway with weak, escapable isolation, ${how}.`;
}
