/** Best-of-n ranking by the critic's p(pass) at the contract's ranking index. */
import { rankingIndex } from '../contracts';

export interface Scored {
  /** The critic's verdict for the whole candidate (`finalScore`); NaN when it has no tokens. */
  final: number;
}

/** The critic's verdict for a whole candidate: its value at the contract's ranking index (the paper's `s`). */
export function finalScore(scores: { tokenIds: readonly number[]; values: readonly number[] }, specialIds: Iterable<number> = []): number {
  const index = rankingIndex(scores.tokenIds, specialIds);
  return index === undefined ? Number.NaN : scores.values[index];
}

/**
 * Sorts candidates best first by final score. Ties keep their original order
 * (the evaluation's best-of-k convention); unscored candidates go last.
 */
export function rankCandidates<T extends Scored>(candidates: readonly T[]): T[] {
  return candidates
    .map((candidate, index) => ({ candidate, index, score: candidate.final }))
    .sort((a, b) => {
      const aMissing = Number.isNaN(a.score);
      const bMissing = Number.isNaN(b.score);
      if (aMissing !== bMissing) return aMissing ? 1 : -1;
      if (!aMissing && a.score !== b.score) return b.score - a.score;
      return a.index - b.index;
    })
    .map(({ candidate }) => candidate);
}

/**
 * A search's candidates best first: those that finished by `rankCandidates`, then those a
 * search stopped (guided pruning, a budget): unfinished code is shown, never chosen over
 * finished code. Without stopped candidates this is `rankCandidates`.
 */
export function rankSearchResult<T extends Scored & { finishReason: string }>(candidates: readonly T[]): T[] {
  const stopped = (c: T) => c.finishReason === 'pruned' || c.finishReason === 'budget';
  return [...rankCandidates(candidates.filter((c) => !stopped(c))), ...rankCandidates(candidates.filter(stopped))];
}
