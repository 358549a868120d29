/**
 * Best-of-n ranking by the critic's p(pass) at the contract's ranking index or, with no critic
 * configured, by the generator's own likelihood (the evaluation's `likelihood_mean` baseline,
 * docs/EVALUATION.md): a ranking, never a probability of passing.
 */
import { rankingIndex } from '../contracts';

/** What ranked the candidates. */
export type RankedBy = 'critic' | 'likelihood';

export interface Scored {
  /** The ranking value: the critic's p(pass) (`finalScore`) or the mean token log-probability (`meanLogprob`); NaN when unknown. */
  final: number;
}

/** The generator's mean log-probability per generated token; NaN without any. */
export function meanLogprob(logprobs: readonly number[]): number {
  const known = logprobs.filter((l) => Number.isFinite(l));
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : Number.NaN;
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
