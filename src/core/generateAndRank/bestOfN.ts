/**
 * Best-of-n: generate N candidates, score each with the critic while it streams (through
 * the critic's KV cache), rank them by final p(pass), and optionally judge each against the
 * problem's examples in the sandbox. Without a critic, rank by the generator's likelihood
 * (mean token log-probability), labelled as such. Shared by the editor's picker and `passlens rank`.
 */
import type { Critic, CriticStream, TokenScores } from '../critic/types';
import type { GenerationRequest, Generator } from '../generation/types';
import type { Problem } from '../problem/types';
import { DEFAULT_TEMPLATES, buildMessages, extractCode } from '../contracts';
import { finalScore, meanLogprob, rankCandidates, type RankedBy } from './ranking';
import type { JudgeRequest, JudgeResponse } from '../sandbox/types';

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
  finishReason: 'stop' | 'length' | 'cancelled' | 'given';
  /** Sandbox verdict on the problem's examples, when they were run. */
  judged?: JudgeResponse;
}

/** The piece of the sandbox client best-of-n needs (SandboxClient implements it). */
export interface Judge {
  judge(request: JudgeRequest, signal?: AbortSignal): Promise<JudgeResponse>;
}

export interface BestOfNCallbacks {
  /** A candidate's text and scores grew (called from the scoring loop, at most once per append; per token without a critic). */
  onUpdate?: (candidate: { index: number; text: string; values: readonly number[]; meanLogprob: number }) => void;
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

export interface GenerateOptions {
  n: number;
  temperature: number;
  maxNewTokens: number;
  seed?: number;
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
  const request: GenerationRequest = {
    messages: buildMessages(problem, critic?.info.templates ?? DEFAULT_TEMPLATES),
    n: options.n,
    temperature: options.temperature,
    maxNewTokens: options.maxNewTokens,
    seed: options.seed,
  };
  const scorers = new Map<number, StreamingScore>();
  const texts = new Map<number, string>();
  const logprobs = new Map<number, number[]>();
  const finishes = new Map<number, RankedCandidate['finishReason']>();
  const logprobsOf = (index: number) => logprobs.get(index) ?? logprobs.set(index, []).get(index)!;
  const scorerFor = (critic: Critic, index: number) => {
    let scorer = scorers.get(index);
    if (!scorer) {
      scorer = new StreamingScore(critic, problem, signal, () => {
        void scorer!.current().then((scores) =>
          callbacks.onUpdate?.({ index, text: scorer!.text, values: scores.values, meanLogprob: meanLogprob(logprobsOf(index)) }),
        );
      });
      scorers.set(index, scorer);
    }
    return scorer;
  };
  try {
    for await (const event of generator.stream(request, signal)) {
      if (event.type === 'token') {
        if (event.logprob !== undefined) logprobsOf(event.candidate).push(event.logprob);
        texts.set(event.candidate, (texts.get(event.candidate) ?? '') + event.text);
        if (critic && event.text) scorerFor(critic, event.candidate).push(event.text);
        else if (!critic) {
          callbacks.onUpdate?.({ index: event.candidate, text: texts.get(event.candidate)!, values: [], meanLogprob: meanLogprob(logprobsOf(event.candidate)) });
        }
      } else finishes.set(event.candidate, event.finishReason);
    }
  } catch (error) {
    // Streams are closed even when generation failed, so their KV caches are freed.
    await Promise.allSettled([...scorers.values()].map((s) => s.finish()));
    throw error;
  }
  const candidates: RankedCandidate[] = [];
  for (let index = 0; index < options.n; index++) {
    const scorer = scorers.get(index);
    const scores = scorer ? await scorer.finish() : EMPTY_SCORES;
    const text = texts.get(index) ?? '';
    const finish = finishes.get(index) ?? 'cancelled';
    candidates.push(
      critic
        ? toCandidate(index, text, scores, finish, critic.info.specialIds, logprobsOf(index))
        : byLikelihood(index, text, finish, logprobsOf(index)),
    );
  }
  return rankCandidates(candidates);
}

function toCandidate(
  index: number,
  text: string,
  scores: TokenScores,
  finishReason: RankedCandidate['finishReason'],
  specialIds: readonly number[],
  logprobs: number[] = [],
): RankedCandidate {
  const { code, start } = extractCode(text);
  return { index, text, code, codeStart: start, scores, values: scores.values, logprobs, final: finalScore(scores, specialIds), rankedBy: 'critic', finishReason };
}

function byLikelihood(index: number, text: string, finishReason: RankedCandidate['finishReason'], logprobs: number[]): RankedCandidate {
  const { code, start } = extractCode(text);
  return { index, text, code, codeStart: start, scores: EMPTY_SCORES, values: [], logprobs, final: meanLogprob(logprobs), rankedBy: 'likelihood', finishReason };
}

/** Ranks responses that already exist (files, a JSON list), scoring them together. */
export async function rankGiven(critic: Critic, problem: Problem, texts: readonly string[], signal?: AbortSignal): Promise<RankedCandidate[]> {
  const scores = await critic.scoreMany(problem, texts, signal);
  return rankCandidates(texts.map((text, index) => toCandidate(index, text, scores[index], 'given', critic.info.specialIds)));
}

/** Runs every candidate's code on the problem's examples; leaves `judged` unset when there are none. */
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
    candidates.map(async (candidate) => {
      candidate.judged = await judge.judge(
        { id: `candidate-${candidate.index}`, code: candidate.code, tests, timeout_s: limits.timeoutSeconds, memory_mb: limits.memoryMb },
        signal,
      );
    }),
  );
}

/** One word for a verdict: passed, failed (with the first failing verdict), error, or not run. */
export function verdictLabel(judged: JudgeResponse | undefined): string {
  if (!judged) return 'not run';
  if ('error' in judged) return `error: ${judged.error}`;
  if (judged.passed) return `passes ${judged.results.length} example${judged.results.length === 1 ? '' : 's'}`;
  const failed = judged.verdicts.find((v) => v !== 'pass') ?? 'failed';
  const passedCount = judged.results.filter((r) => r === true).length;
  return `${failed.replace('_', ' ')} (${passedCount}/${judged.results.length})`;
}
