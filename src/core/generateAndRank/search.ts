/**
 * One entry point for every search strategy, used by the editor, the CLI and evaluation:
 * best-of-n (generate n, rank) or guided (the critic prunes and re-branches while the
 * candidates are written; guided.ts). Both return candidates ranked the same way, each with
 * the tokens spent on it and whether it was pruned.
 */
import type { Critic } from '../critic/types';
import type { Generator } from '../generation/types';
import type { Problem } from '../problem/types';
import { generateAndRank, type BestOfNCallbacks, type GenerateOptions, type RankedCandidate } from './bestOfN';
import { guidedSearch, type GuidedPolicy } from './guided';
import { streamingOf } from './streams';

export type SearchStrategy = 'best-of-n' | 'guided';
export const SEARCH_STRATEGIES: readonly SearchStrategy[] = ['best-of-n', 'guided'];

/** Guided search's knobs besides its width (which is `n`). */
export type GuidedKnobs = Omit<GuidedPolicy, 'width'>;

/**
 * The policy chosen on the micro world's validation problems by the offline replay
 * (docs/guided-generation.md, "Measured"; scripts/guided-report.sh): judge every 8 tokens,
 * stop the lowest quarter once a stream has 16 tokens, re-branch. Chosen on ~70-token micro
 * answers; on the test problems it did not beat best-of-n (same doc).
 */
export const DEFAULT_GUIDED: GuidedKnobs = {
  interval: 8,
  pruneFraction: 0.25,
  threshold: 0,
  warmupTokens: 16,
  rebranch: true,
  window: 32,
};

/** Guided search was asked for without a critic to steer it. */
export class NoCriticForGuidedSearchError extends Error {
  constructor() {
    super('guided search needs a critic to prune and re-branch by: pick a critic bundle (or server), or use best-of-n, which ranks by likelihood without one');
    this.name = 'NoCriticForGuidedSearchError';
  }
}

export interface SearchOptions extends GenerateOptions {
  strategy: SearchStrategy;
  /** Guided knobs; missing ones take DEFAULT_GUIDED. */
  guided?: Partial<GuidedKnobs>;
}

/**
 * Generates candidates with the chosen strategy and returns them best first. Best-of-n without
 * a critic ranks by the generator's likelihood; guided search needs a critic to steer by.
 */
export async function search(
  generator: Generator,
  critic: Critic | undefined,
  problem: Problem,
  options: SearchOptions,
  signal?: AbortSignal,
  callbacks: BestOfNCallbacks = {},
): Promise<RankedCandidate[]> {
  if (options.strategy === 'best-of-n') return generateAndRank(generator, critic, problem, options, signal, callbacks);
  if (!critic) throw new NoCriticForGuidedSearchError();
  const policy: GuidedPolicy = { ...DEFAULT_GUIDED, ...options.guided, width: options.n };
  return guidedSearch(streamingOf(generator), critic, problem, { ...options, policy }, signal, callbacks);
}
