/**
 * Best-of-n: generate N candidates, score each with the critic while it streams (through
 * the critic's KV cache), rank them by final p(pass), and optionally judge each against the
 * problem's examples in the sandbox. Without a critic, rank by the generator's likelihood
 * (mean token log-probability), labelled as such. Shared by the editor's picker and `passlens rank`.
 */
import type { Critic, CriticStream, TokenScores } from '../critic/types';
import type { GenerationRequest, Generator } from '../generation/types';
import type { Problem, PromptTemplates } from '../problem/types';
import { DEFAULT_TEMPLATES, buildMessages, extractCode } from '../contracts';
import { throwIfAborted } from '../shared/abort';
import { finalScore, meanLogprob, rankCandidates, rankSearchResult, type RankedBy } from './ranking';
import { isTokenEvent } from './streams';
import type { JudgeRequest, JudgeResponse } from '../sandbox/types';
import { WEAK_ISOLATION_LABEL, isWeakIsolation } from '../sandbox/isolation';

export interface RankedCandidate {
  index: number;
  /** The whole response (reasoning and code block). */
  text: string;
  /** The code to insert, and where it starts in `text`. */
  code: string;
  codeStart: number;
  scores: TokenScores;
  /** Per-token values (= scores.values, the critic's p(pass)); empty when ranked by likelihood. */
  values: number[];
  /** The generator's log-probability of each streamed token, when the generator gives them. */
  logprobs: number[];
  /** The ranking value: p(pass) at the ranking index (critic) or the mean token log-probability (likelihood). */
  final: number;
  rankedBy: RankedBy;
  /** 'pruned': stopped by guided search's critic; 'budget': stopped by the token or wall-clock budget. */
  finishReason: 'stop' | 'length' | 'cancelled' | 'given' | 'pruned' | 'budget';
  /** Tokens generated for this candidate; a prefix inherited from another candidate is counted there, once. */
  tokens: number;
  /** False, or the candidate's length in tokens when guided search stopped it. */
  pruned: false | number;
  /** A guided re-branch: the candidate it continues and the token position where it forked. */
  branch?: { from: number; at: number };
  /** Sandbox verdict on the problem's examples, when they were run. */
  judged?: JudgeResponse;
}

/** The piece of the sandbox client best-of-n needs (SandboxClient implements it). */
export interface Judge {
  judge(request: JudgeRequest, signal?: AbortSignal): Promise<JudgeResponse>;
}

export interface BestOfNCallbacks {
  /** A candidate's text and scores grew (called from the scoring loop, at most once per append; per token without a critic). */
  onUpdate?: (candidate: { index: number; text: string; values: readonly number[]; meanLogprob?: number; tokens?: number; pruned?: false | number }) => void;
}

const EMPTY_SCORES: TokenScores = { tokens: [], tokenIds: [], charOffsets: [], values: [] };

/** Scores one streaming candidate: chunks that arrive while an append runs are batched into the next. */
class StreamingScore {
  private pending = '';
  private chain: Promise<void> = Promise.resolve();
  private stream: Promise<CriticStream>;
  text = '';

  constructor(critic: Critic, problem: Problem, private readonly signal: AbortSignal | undefined, private readonly onScored: () => void) {
    this.stream = critic.open(problem);
    this.chain = this.stream.then(() => undefined);
  }

  push(chunk: string): void {
    this.text += chunk;
    this.pending += chunk;
    this.chain = this.chain.then(async () => {
      if (!this.pending) return;
      const chunkToScore = this.pending;
      this.pending = '';
      await (await this.stream).append(chunkToScore, this.signal);
      this.onScored();
    });
  }

  private finished: Promise<TokenScores> | undefined;

  /** Waits for pending appends, then closes the stream (once) and returns the final scores. */
  finish(): Promise<TokenScores> {
    this.finished ??= (async () => {
      const stream = await this.stream;
      try {
        await this.chain;
        return stream.current();
      } finally {
        await stream.close();
      }
    })();
    return this.finished;
  }

  async current(): Promise<TokenScores> {
    return (await this.stream).current();
  }
}

/** N samples for `problem` under `templates`, drawn as `options` say (best-of-n, inline suggestions). */
export function samplingRequest(problem: Problem, templates: PromptTemplates, options: Pick<GenerateOptions, 'n' | 'temperature' | 'topP' | 'topK' | 'maxNewTokens' | 'seed'>): GenerationRequest {
  const { n, temperature, topP, topK, maxNewTokens, seed } = options;
  return { messages: buildMessages(problem, templates), n, temperature, topP, topK, maxNewTokens, seed };
}

export interface GenerateOptions {
  n: number;
  temperature: number;
  topP?: number;
  topK?: number;
  maxNewTokens: number;
  seed?: number;
  /** Most tokens generated in all; candidates still running then end 'budget'. */
  tokenBudget?: number;
  /** Milliseconds after which candidates still running end 'budget'. */
  wallClockMs?: number;
}

/**
 * Generates, scores while streaming, and returns the candidates best first: by the critic's
 * p(pass), or by the generator's mean token log-probability when `critic` is undefined.
 */
export async function generateAndRank(
  generator: Generator,
  critic: Critic | undefined,
  problem: Problem,
  options: GenerateOptions,
  signal?: AbortSignal,
  callbacks: BestOfNCallbacks = {},
): Promise<RankedCandidate[]> {
  throwIfAborted(signal);
  const request = samplingRequest(problem, critic?.info.templates ?? DEFAULT_TEMPLATES, options);
  const scorers = new Map<number, StreamingScore>();
  const texts = new Map<number, string>();
  const logprobs = new Map<number, number[]>();
  const logprobsOf = (index: number) => logprobs.get(index) ?? logprobs.set(index, []).get(index)!;
  const finishes = new Map<number, RankedCandidate['finishReason']>();
  const tokens = new Map<number, { count: number; sawTokenIds: boolean }>();
  // The generator stops on the caller's signal or on a budget; the critic only on the caller's.
  const generation = new AbortController();
  let overBudget = false;
  const stopForBudget = () => {
    overBudget = true;
    generation.abort();
  };
  const onAbort = () => generation.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.wallClockMs === undefined ? undefined : setTimeout(stopForBudget, options.wallClockMs);
  let spent = 0;
  const scorerFor = (critic: Critic, index: number) => {
    let scorer = scorers.get(index);
    if (!scorer) {
      scorer = new StreamingScore(critic, problem, signal, () => {
        void scorer!.current().then((scores) =>
          callbacks.onUpdate?.({
            index,
            text: scorer!.text,
            values: scores.values,
            meanLogprob: meanLogprob(logprobsOf(index)),
            tokens: tokens.get(index)?.count ?? 0,
            pruned: false,
          }),
        );
      });
      scorers.set(index, scorer);
    }
    return scorer;
  };
  try {
    for await (const event of generator.stream(request, generation.signal)) {
      if (event.type === 'token') {
        const count = tokens.get(event.candidate) ?? { count: 0, sawTokenIds: false };
        tokens.set(event.candidate, count);
        if (isTokenEvent(event, count.sawTokenIds)) {
          count.count++;
          if (++spent >= (options.tokenBudget ?? Infinity)) stopForBudget();
        }
        if (event.tokenId !== undefined) count.sawTokenIds = true;
        if (event.logprob !== undefined) logprobsOf(event.candidate).push(event.logprob);
        texts.set(event.candidate, (texts.get(event.candidate) ?? '') + event.text);
        if (critic && event.text) scorerFor(critic, event.candidate).push(event.text);
        else if (!critic) {
          const text = texts.get(event.candidate)!;
          callbacks.onUpdate?.({ index: event.candidate, text, values: [], meanLogprob: meanLogprob(logprobsOf(event.candidate)), tokens: count.count, pruned: false });
        }
      } else finishes.set(event.candidate, event.finishReason === 'cancelled' && overBudget ? 'budget' : event.finishReason);
    }
  } catch (error) {
    // Streams are closed even when generation failed, so their KV caches are freed.
    await Promise.allSettled([...scorers.values()].map((s) => s.finish()));
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  const candidates: RankedCandidate[] = [];
  for (let index = 0; index < options.n; index++) {
    const scorer = scorers.get(index);
    const scores = scorer ? await scorer.finish() : EMPTY_SCORES;
    const text = texts.get(index) ?? '';
    const finishReason = finishes.get(index) ?? (overBudget ? 'budget' : 'cancelled');
    const spentOn = tokens.get(index)?.count ?? 0;
    candidates.push(
      critic
        ? toCandidate(index, text, scores, finishReason, critic.info.specialIds, spentOn, false, logprobsOf(index))
        : byLikelihood(index, text, finishReason, spentOn, logprobsOf(index)),
    );
  }
  return rankSearchResult(candidates);
}

/** A candidate of a search or a given response, with its final score by the contract's ranking index. */
export function toCandidate(
  index: number,
  text: string,
  scores: TokenScores,
  finishReason: RankedCandidate['finishReason'],
  specialIds: readonly number[],
  tokens: number,
  pruned: false | number,
  logprobs: number[] = [],
): RankedCandidate {
  const { code, start } = extractCode(text);
  return { index, text, code, codeStart: start, scores, values: scores.values, logprobs, final: finalScore(scores, specialIds), rankedBy: 'critic', finishReason, tokens, pruned };
}

function byLikelihood(index: number, text: string, finishReason: RankedCandidate['finishReason'], tokens: number, logprobs: number[]): RankedCandidate {
  const { code, start } = extractCode(text);
  return { index, text, code, codeStart: start, scores: EMPTY_SCORES, values: [], logprobs, final: meanLogprob(logprobs), rankedBy: 'likelihood', finishReason, tokens, pruned: false };
}

/** Ranks responses that already exist (files, a JSON list), scoring them together. */
export async function rankGiven(critic: Critic, problem: Problem, texts: readonly string[], signal?: AbortSignal): Promise<RankedCandidate[]> {
  const scores = await critic.scoreMany(problem, texts, signal);
  return rankCandidates(texts.map((text, index) => toCandidate(index, text, scores[index], 'given', critic.info.specialIds, 0, false)));
}

/**
 * Runs every finished candidate's code on the problem's examples; leaves `judged` unset when
 * there are none, and for candidates a search stopped (their code is cut off).
 */
export async function judgeCandidates(
  judge: Judge,
  problem: Problem,
  candidates: RankedCandidate[],
  limits: { timeoutSeconds: number; memoryMb: number },
  signal?: AbortSignal,
): Promise<void> {
  const tests = problem.tests;
  if (!tests || tests.inputs.length === 0) return;
  await Promise.all(
    candidates.filter((c) => c.finishReason !== 'pruned' && c.finishReason !== 'budget').map(async (candidate) => {
      candidate.judged = await judge.judge(
        { id: `candidate-${candidate.index}`, code: candidate.code, tests, timeout_s: limits.timeoutSeconds, memory_mb: limits.memoryMb },
        signal,
      );
    }),
  );
}

/**
 * A few words for a verdict: passed, failed (with the first failing verdict), error, or not
 * run; a verdict from weak isolation says so.
 */
export function verdictLabel(judged: JudgeResponse | undefined): string {
  if (!judged) return 'not run';
  if ('error' in judged) return `error: ${judged.error}`;
  const weak = isWeakIsolation(judged) ? ` [${WEAK_ISOLATION_LABEL}]` : '';
  if (judged.passed) return `passes ${judged.results.length} example${judged.results.length === 1 ? '' : 's'}${weak}`;
  const failed = judged.verdicts.find((v) => v !== 'pass') ?? 'failed';
  const passedCount = judged.results.filter((r) => r === true).length;
  return `${failed.replace('_', ' ')} (${passedCount}/${judged.results.length})${weak}`;
}
