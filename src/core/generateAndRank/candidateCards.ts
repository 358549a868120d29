/**
 * What the candidates panel shows of each candidate, whatever produced it (best-of-n, a
 * guided search, inline suggestions): its code, p(pass) and curve, the sandbox verdict,
 * and a diff of the file it would leave against the current one.
 */
import { structuredPatch } from 'diff';
import { rankCandidates } from './ranking';
import type { JudgeResponse } from '../sandbox/types';
import { verdictLabel } from './bestOfN';

export interface DiffLine {
  kind: 'add' | 'remove' | 'context' | 'hunk';
  text: string;
}

export type CardState = 'generating' | 'scoring' | 'scored' | 'empty';

export interface CandidateCard {
  /** Stable across updates: what Accept names. */
  key: string;
  /** e.g. "candidate 3" or "3 of 6 samples". */
  label: string;
  code: string;
  /** The ranking value (contract's finalScore); NaN until scored. */
  final: number;
  /** What `final` is: the critic's p(pass) (when absent), or the generator's mean token log-probability (no critic configured). */
  rankedBy?: 'critic' | 'likelihood';
  values: number[];
  /** Token range [from, to) of `values` that is the candidate's own text (a suggestion inside its file). */
  span?: [number, number];
  state: CardState;
  verdict: { label: string; kind: 'pass' | 'fail' | 'error' | 'notRun' };
  diff: DiffLine[];
  finishReason?: string;
  /** Generated tokens spent on it (a guided search counts a shared prefix once). */
  tokens?: number;
  /** false, or the token count at which a guided search stopped it. */
  pruned?: false | number;
}

/** Cards best first by their ranking value (the picker's order); unscored ones after, in their given order. */
export function orderCards(cards: readonly CandidateCard[]): CandidateCard[] {
  return rankCandidates(cards);
}

/** A unified diff of `after` against `current`, `context` unchanged lines around each change. */
export function diffLines(current: string, after: string, context = 2): DiffLine[] {
  const patch = structuredPatch('current', 'after', current, after, '', '', { context });
  return patch.hunks.flatMap((hunk) => [
    { kind: 'hunk' as const, text: `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@` },
    ...hunk.lines
      .filter((line) => !line.startsWith('\\'))
      .map((line): DiffLine => ({ kind: line[0] === '+' ? 'add' : line[0] === '-' ? 'remove' : 'context', text: line.slice(1) })),
  ]);
}

/**
 * The verdict as a label and a kind. `notRunReason` says why there is none: sandbox
 * verdicts need a trusted workspace and a problem with examples.
 */
export function cardVerdict(judged: JudgeResponse | undefined, notRunReason: string | undefined): CandidateCard['verdict'] {
  if (!judged) return { label: notRunReason ? `not run: ${notRunReason}` : 'not run', kind: 'notRun' };
  if ('error' in judged) return { label: verdictLabel(judged), kind: 'error' };
  return { label: verdictLabel(judged), kind: judged.passed ? 'pass' : 'fail' };
}
