/** Best-of-n ranking by the critic's final p(pass). */

export interface Scored {
  /** Per-token values from the critic, in order; the last one is the rollout's score. */
  values: readonly number[];
}

/** The critic's verdict for a whole candidate: its last token's value (the paper's `s`). */
export function finalScore(candidate: Scored): number {
  const { values } = candidate;
  return values.length > 0 ? values[values.length - 1] : Number.NaN;
}

/**
 * Sorts candidates best first by final score. Ties keep their original order
 * (the evaluation's best-of-k convention); unscored candidates go last.
 */
export function rankCandidates<T extends Scored>(candidates: readonly T[]): T[] {
  return candidates
    .map((candidate, index) => ({ candidate, index, score: finalScore(candidate) }))
    .sort((a, b) => {
      const aMissing = Number.isNaN(a.score);
      const bMissing = Number.isNaN(b.score);
      if (aMissing !== bMissing) return aMissing ? 1 : -1;
      if (!aMissing && a.score !== b.score) return b.score - a.score;
      return a.index - b.index;
    })
    .map(({ candidate }) => candidate);
}
