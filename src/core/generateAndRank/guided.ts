/**
 * Value-guided generation: the critic prunes and re-branches candidates while they are
 * written (issue 19). The policy, which training's offline simulation
 * (passlens_training/evaluate/guided_simulation.py) replays on scored rollouts and
 * contracts/cases/guided-search.json pins for both:
 *
 * - `width` streams start from the prompt. The search runs in rounds: in each, every live
 *   stream generates up to `interval` tokens, consumed one token per stream per step in
 *   index order (lockstep, so the outcome does not depend on which stream ran faster);
 * - at the end of a round the critic scores every stream that moved (through its KV cache);
 *   then, among the live streams, the `floor(pruneFraction × live)` lowest-valued ones and
 *   every one below `threshold` stop — except the best live stream (a search always
 *   finishes a candidate) and streams shorter than `warmupTokens` (early values say little);
 * - with `rebranch`, each stopped stream's slot restarts from the best surviving stream (live,
 *   else finished) at the least likely of its last `window` tokens not forked before (the
 *   paper's forking rule, online): the new stream keeps the tokens before it and samples anew
 *   from there. Without a generator that continues a prefix, the slot restarts from the prompt;
 * - the token budget stops every live stream the moment the search has read that many
 *   tokens; the wall-clock budget when the time is up. Neither re-branches afterwards. A
 *   generator that runs ahead of the reader (a worker, a server) may have generated a few
 *   more for a stream by the time it stops: the stream's `tokens` counts them.
 *
 * The result is ranked like best-of-n (`rankSearchResult`): finished candidates by the
 * critic's value at the contract's ranking index, then stopped ones. Each candidate carries
 * `tokens` (the tokens generated for it, an inherited prefix counted once, on the stream that
 * wrote it) and `pruned` (false, or its length in tokens when it stopped).
 */
import { setMaxListeners } from 'node:events';
import { AbortError, throwIfAborted } from '../shared/abort';
import type { Critic, CriticStream } from '../critic/types';
import type { Problem } from '../problem/types';
import { buildMessages } from '../contracts';
import { rankSearchResult } from './ranking';
import { toCandidate, type BestOfNCallbacks, type GenerateOptions, type RankedCandidate } from './bestOfN';
import { isTokenEvent, type StreamEvent, type StreamingGenerator } from './streams';

export interface GuidedPolicy {
  /** Streams started together (best-of-n's n). */
  width: number;
  /** Tokens each live stream generates per round; the critic judges at the end of each round. */
  interval: number;
  /** Fraction of the live streams (rounded down) that stops after each round, lowest values first. */
  pruneFraction: number;
  /** A live stream whose value is below this stops too (0: off). */
  threshold: number;
  /** Streams shorter than this (their prefix included) never stop. */
  warmupTokens: number;
  /** Whether a stopped stream's slot restarts from the best surviving stream. */
  rebranch: boolean;
  /** A re-branch forks at the least likely of the source's last `window` tokens. */
  window: number;
}

/**
 * Sampling and budgets as best-of-n takes them; `policy.width` replaces `n`. A candidate's
 * `maxNewTokens` counts an inherited prefix; the token budget defaults to width × maxNewTokens.
 */
export type GuidedOptions = Omit<GenerateOptions, 'n'> & { policy: GuidedPolicy };

/** Checks a policy and says which knob is wrong. */
export function validatePolicy(policy: GuidedPolicy): void {
  const integer = (name: keyof GuidedPolicy, min: number) => {
    const value = policy[name] as number;
    if (!Number.isInteger(value) || value < min) throw new RangeError(`guided search: ${name} must be an integer >= ${min}, not ${value}`);
  };
  integer('width', 1);
  integer('interval', 1);
  integer('warmupTokens', 0);
  integer('window', 1);
  if (!(policy.pruneFraction >= 0 && policy.pruneFraction < 1)) throw new RangeError(`guided search: pruneFraction must be in [0, 1), not ${policy.pruneFraction}`);
  if (!(policy.threshold >= 0 && policy.threshold <= 1)) throw new RangeError(`guided search: threshold must be in [0, 1], not ${policy.threshold}`);
}

interface Token {
  /** Where the token's text starts in the stream's text. */
  start: number;
  id?: number;
  logprob?: number;
}

type State = 'live' | 'finished' | 'pruned' | 'budget';

interface Stream {
  index: number;
  branch?: { from: number; at: number };
  /** Tokens of the candidate, an inherited prefix included. */
  tokens: Token[];
  text: string;
  /** Tokens this stream generated (its prefix not counted), those drained after a stop included. */
  generated: number;
  sawTokenIds: boolean;
  iterator: AsyncIterator<StreamEvent>;
  controller: AbortController;
  state: State;
  finishReason: RankedCandidate['finishReason'];
  prunedAt?: number;
  critic: CriticStream;
  scoredChars: number;
  /** The critic's value after the last scored token (NaN before any). */
  value: number;
  forkedAt: Set<number>;
  /** Reading what a stopped stream had already generated, to count it. */
  drain?: Promise<void>;
}

const byValueDescending = (a: Stream, b: Stream) => {
  const aMissing = Number.isNaN(a.value);
  if (aMissing !== Number.isNaN(b.value)) return aMissing ? 1 : -1;
  return aMissing || a.value === b.value ? a.index - b.index : b.value - a.value;
};

/** Generates with the critic pruning and re-branching (policy above); returns the candidates ranked. */
export async function guidedSearch(
  generator: StreamingGenerator,
  critic: Critic,
  problem: Problem,
  options: GuidedOptions,
  signal?: AbortSignal,
  callbacks: BestOfNCallbacks = {},
): Promise<RankedCandidate[]> {
  const { policy } = options;
  validatePolicy(policy);
  throwIfAborted(signal);
  const messages = buildMessages(problem, critic.info.templates);
  const budget = options.tokenBudget ?? policy.width * options.maxNewTokens;
  const streams: Stream[] = [];
  let spent = 0;
  let outOfTime = false;
  const stopAll = () => {
    for (const s of streams) if (s.state === 'live') s.controller.abort();
  };
  // The critic hears the caller's cancel through a signal of ours: every live stream's append
  // listens on it at once, more than the caller's signal should be asked to carry.
  const scoring = new AbortController();
  setMaxListeners(0, scoring.signal);
  const onAbort = () => {
    scoring.abort();
    stopAll();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.wallClockMs === undefined ? undefined : setTimeout(() => ((outOfTime = true), stopAll()), options.wallClockMs);

  const open = async (source: Stream | undefined, at: number): Promise<Stream> => {
    const index = streams.length;
    const prefixTokens = source ? source.tokens.slice(0, at) : [];
    const prefixText = source ? source.text.slice(0, source.tokens[at]?.start ?? source.text.length) : '';
    const ids = prefixTokens.map((t) => t.id);
    const controller = new AbortController();
    const events = generator.start(
      {
        messages,
        prefix: { text: prefixText, ...(ids.every((id) => id !== undefined) ? { tokenIds: ids as number[] } : {}) },
        temperature: options.temperature,
        topP: options.topP,
        topK: options.topK,
        maxNewTokens: options.maxNewTokens - at,
        roundTokens: policy.interval,
        seed: options.seed === undefined ? undefined : options.seed + index,
      },
      controller.signal,
    );
    const iterator = events[Symbol.asyncIterator]();
    const stream: Stream = {
      index,
      ...(source ? { branch: { from: source.index, at } } : {}),
      tokens: prefixTokens.map((t) => ({ ...t })),
      text: prefixText,
      generated: 0,
      sawTokenIds: false,
      iterator,
      controller,
      state: 'live',
      finishReason: 'stop',
      critic: undefined as unknown as CriticStream,
      scoredChars: 0,
      value: Number.NaN,
      forkedAt: new Set(),
    };
    streams.push(stream);
    stream.critic = await critic.open(problem);
    return stream;
  };

  /** Reads one token of a live stream (or its end). */
  const step = async (s: Stream): Promise<void> => {
    for (;;) {
      const next = await s.iterator.next();
      const event = next.done ? ({ type: 'done', candidate: 0, finishReason: 'cancelled' } as const) : next.value;
      if (event.type === 'done') {
        // A stream ends 'cancelled' when the clock or the user stopped it, not the model.
        s.state = event.finishReason === 'cancelled' && outOfTime ? 'budget' : 'finished';
        s.finishReason = s.state === 'budget' ? 'budget' : event.finishReason;
        return;
      }
      const counts = isTokenEvent(event, s.sawTokenIds);
      if (event.tokenId !== undefined) s.sawTokenIds = true;
      if (counts) s.tokens.push({ start: s.text.length, ...(event.tokenId !== undefined ? { id: event.tokenId } : {}), ...(event.logprob !== undefined ? { logprob: event.logprob } : {}) });
      s.text += event.text;
      if (!counts) continue;
      s.generated++;
      spent++;
      if (spent >= budget) stopForBudget();
      return;
    }
  };

  const stop = (s: Stream, state: 'pruned' | 'budget') => {
    s.state = state;
    s.finishReason = state;
    s.controller.abort();
    if (state === 'pruned') {
      s.prunedAt = s.tokens.length;
      callbacks.onUpdate?.({ index: s.index, text: s.text, values: s.critic.current().values, tokens: s.generated, pruned: s.prunedAt });
    }
    s.drain = (async () => {
      for (;;) {
        const next = await s.iterator.next();
        if (next.done || next.value.type === 'done') return;
        if (isTokenEvent(next.value, s.sawTokenIds)) s.generated++;
      }
    })().catch(() => undefined); // a generator failing after the stop changes nothing the search uses
  };
  const stopForBudget = () => {
    for (const s of streams) if (s.state === 'live') stop(s, 'budget');
  };

  const score = async (s: Stream) => {
    const chunk = s.text.slice(s.scoredChars);
    if (!chunk) return;
    s.scoredChars = s.text.length;
    const scores = await s.critic.append(chunk, scoring.signal);
    if (scores.values.length) s.value = scores.values[scores.values.length - 1];
    callbacks.onUpdate?.({ index: s.index, text: s.text, values: s.critic.current().values, tokens: s.generated, pruned: s.prunedAt ?? false });
  };

  const rebranchFrom = (): Stream | undefined => {
    const live = streams.filter((s) => s.state === 'live').sort(byValueDescending);
    if (live.length) return live[0];
    return streams.filter((s) => s.state === 'finished').sort(byValueDescending)[0];
  };

  try {
    await Promise.all(Array.from({ length: policy.width }, () => open(undefined, 0)));
    while (streams.some((s) => s.state === 'live')) {
      const moved = new Set<Stream>();
      for (let k = 0; k < policy.interval; k++) {
        const live = streams.filter((s) => s.state === 'live');
        if (!live.length) break;
        for (const s of live) {
          if (s.state !== 'live') continue; // stopped by the budget earlier in this step
          moved.add(s);
          await step(s);
        }
      }
      throwIfAborted(signal);
      if (outOfTime) stopForBudget();
      await Promise.all([...moved].map(score));
      if (spent >= budget || outOfTime) break;
      const stopped = prune(streams, policy);
      for (const s of stopped) stop(s, 'pruned');
      if (!policy.rebranch) continue;
      for (let k = 0; k < stopped.length; k++) {
        const source = rebranchFrom();
        const at = source && generator.continuesPrefix ? forkPosition(source, policy.window) : undefined;
        if (source && at !== undefined) source.forkedAt.add(at);
        await open(at === undefined ? undefined : source, at ?? 0);
      }
    }
    throwIfAborted(signal);
    await Promise.all(streams.map(score));
    await Promise.all(streams.map((s) => s.drain));
    const candidates = streams.map((s) => {
      const scores = s.critic.current();
      const candidate = toCandidate(s.index, s.text, scores, s.finishReason, critic.info.specialIds, s.generated, s.prunedAt ?? false);
      return s.branch ? { ...candidate, branch: s.branch } : candidate;
    });
    return rankSearchResult(candidates);
  } catch (error) {
    if (signal?.aborted) throw new AbortError();
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    stopAll();
    await Promise.allSettled(streams.map((s) => s.critic?.close()));
  }
}

/** The live streams a round stops (policy at the top of this file). */
function prune(streams: readonly Stream[], policy: GuidedPolicy): Stream[] {
  const live = streams.filter((s) => s.state === 'live');
  if (live.length < 2) return [];
  const best = [...live].sort(byValueDescending)[0];
  const eligible = (s: Stream) => s !== best && s.tokens.length >= policy.warmupTokens;
  const lowestFirst = [...live].sort(byValueDescending).reverse().filter(eligible);
  const stopped = new Set(lowestFirst.slice(0, Math.floor(policy.pruneFraction * live.length)));
  for (const s of lowestFirst) if (s.value < policy.threshold) stopped.add(s);
  return [...stopped].sort((a, b) => a.index - b.index);
}

/**
 * Where a re-branch from `source` starts: the least likely of its last `window` tokens that it
 * was not forked at before (ties: the earliest). Without the generator's log-probabilities,
 * the token where the critic's value fell most. Undefined when every position is taken.
 */
export function forkPosition(source: { tokens: readonly Token[]; forkedAt: ReadonlySet<number>; critic?: CriticStream }, window: number): number | undefined {
  const from = Math.max(0, source.tokens.length - window);
  const open = Array.from({ length: source.tokens.length - from }, (_, k) => from + k).filter((p) => !source.forkedAt.has(p));
  if (!open.length) return undefined;
  if (open.every((p) => source.tokens[p].logprob !== undefined)) {
    return open.reduce((best, p) => (source.tokens[p].logprob! < source.tokens[best].logprob! ? p : best));
  }
  const scored = source.critic?.current();
  const drop = new Map<number, number>();
  if (scored) {
    for (let j = 1; j < scored.values.length; j++) {
      const at = tokenAt(source.tokens, scored.charOffsets[j][0]);
      const fall = scored.values[j - 1] - scored.values[j];
      if (at !== undefined && fall > (drop.get(at) ?? -Infinity)) drop.set(at, fall);
    }
  }
  return open.reduce((best, p) => ((drop.get(p) ?? -Infinity) > (drop.get(best) ?? -Infinity) ? p : best));
}

/** The token whose text holds character `char` (the last token starting at or before it). */
function tokenAt(tokens: readonly Token[], char: number): number | undefined {
  let lo = 0;
  let hi = tokens.length - 1;
  if (hi < 0 || tokens[0].start > char) return undefined;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tokens[mid].start <= char) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
