/**
 * A critic served by vLLM as a pooling model (`vllm serve CHECKPOINT --runner pooling`):
 * `POST /tokenize` gives the prompt's and the response's token ids (with their byte-level
 * strings for offsets), `POST /pooling` with `task: "token_classify"` gives one sigmoid
 * value per token. Streams re-score the whole text per append; vLLM's prefix cache keeps
 * that cheap on the server. The critic's calibration, which the server cannot know, is given
 * here and applied to every value, as the local runtime applies its bundle's.
 */
import { calibrate, type Calibration } from '../contracts/calibration';
import { DEFAULT_TEMPLATES, buildMessages } from '../contracts/prompt';
import type { Problem, PromptTemplates } from '../problem/types';
import { AbortError } from '../shared/abort';
import { sendToOrigin } from '../shared/origin';
import { CriticError } from './errors';
import { byteLevelTokenBytes, charOffsets, tokenDisplayText } from './offsets';
import type { Critic, CriticInfo, CriticStream, TokenScores } from './types';

export interface RemoteCriticOptions {
  /** Server root, e.g. http://127.0.0.1:8001 (a trailing /v1 is accepted). */
  url: string;
  /** Served model name; the server's first model when absent. */
  model?: string;
  /** The prompt templates the critic was trained with (the repository's when absent). */
  templates?: PromptTemplates;
  /** Bearer token, sent only to the origin of `url` (redirects elsewhere are refused). */
  /** The critic's calibration (its bundle manifest's or passlens-calibration.json); raw values when absent. */
  calibration?: Calibration | null;
  apiKey?: string;
  /** Called with the server's origin before any request (the code to score included) goes out; rejecting stops it. */
  beforeSend?: (origin: string) => Promise<void>;
  timeoutMs?: number;
}

interface TokenizeResponse {
  tokens: number[];
  token_strs?: string[] | null;
  max_model_len: number;
}

interface PoolingResponse {
  data: Array<{ index: number; data: number[][] | number[] }>;
}

class RemoteCritic implements Critic {
  readonly info: CriticInfo;
  private readonly prompts = new Map<string, Promise<{ ids: number[]; maxModelLen: number }>>();

  constructor(
    private readonly root: string,
    private readonly model: string,
    private readonly options: RemoteCriticOptions,
    templates: PromptTemplates,
  ) {
    // The server tokenises response text, which holds no special tokens: nothing to skip.
    this.info = {
      name: `${model} @ ${root}`,
      baseModel: model,
      templates,
      specialIds: [],
      provider: 'remote',
      ...(options.calibration ? { calibration: options.calibration } : {}),
    };
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return request<T>(`${this.root}${path}`, this.options, { method: 'POST', body: JSON.stringify({ model: this.model, ...(body as object) }) }, signal);
  }

  private promptIds(problem: Problem, signal?: AbortSignal) {
    const messages = buildMessages(problem, this.info.templates);
    const key = JSON.stringify(messages);
    let cached = this.prompts.get(key);
    if (!cached) {
      cached = this.post<TokenizeResponse>('/tokenize', { messages, add_generation_prompt: true, add_special_tokens: false }, signal).then((r) => ({
        ids: r.tokens,
        maxModelLen: r.max_model_len,
      }));
      cached.catch(() => this.prompts.delete(key));
      if (this.prompts.size >= 8) this.prompts.delete(this.prompts.keys().next().value as string);
      this.prompts.set(key, cached);
    }
    return cached;
  }

  private async responseTokens(text: string, signal?: AbortSignal): Promise<{ ids: number[]; bytes: Uint8Array[] }> {
    if (!text) return { ids: [], bytes: [] };
    const r = await this.post<TokenizeResponse>('/tokenize', { prompt: text, add_special_tokens: false, return_token_strs: true }, signal);
    if (!Array.isArray(r.token_strs) || r.token_strs.length !== r.tokens.length) {
      throw new CriticError('remote_error', `The vLLM server at ${this.root} did not return token_strs from /tokenize; PassLens needs them to place values in the text. Update vLLM.`);
    }
    return { ids: r.tokens, bytes: r.token_strs.map(byteLevelTokenBytes) };
  }

  async scoreAll(problem: Problem, texts: readonly string[], signal?: AbortSignal): Promise<TokenScores[]> {
    const prompt = await this.promptIds(problem, signal);
    const encoded = await Promise.all(texts.map((t) => this.responseTokens(t, signal)));
    const inputs: number[][] = [];
    const notices: Array<string | undefined> = [];
    for (const { ids } of encoded) {
      if (ids.length > prompt.maxModelLen) {
        throw new CriticError('too_long', `The text to score has ${ids.length} tokens; the critic server reads at most ${prompt.maxModelLen}. Score a shorter text.`);
      }
      const dropped = Math.max(0, prompt.ids.length + ids.length - prompt.maxModelLen);
      inputs.push([...prompt.ids.slice(dropped), ...ids]);
      notices.push(dropped ? `The prompt was cut: its first ${dropped} tokens were dropped so prompt and response fit the critic's ${prompt.maxModelLen}-token context.` : undefined);
    }
    const scored = inputs.map((_, i) => i).filter((i) => encoded[i].ids.length > 0);
    const rows: number[][] = new Array(texts.length).fill([]);
    if (scored.length) {
      const response = await this.post<PoolingResponse>('/pooling', { input: scored.map((i) => inputs[i]), task: 'token_classify' }, signal);
      for (const item of response.data) {
        const index = scored[item.index];
        const perToken = item.data.map((v) => (Array.isArray(v) ? v[0] : v));
        if (index === undefined || perToken.length !== inputs[index].length) {
          throw new CriticError('remote_error', `The vLLM server at ${this.root} returned ${perToken.length} values for ${index === undefined ? 'an unknown input' : `${inputs[index].length} tokens`}; is it serving the critic with task token_classify?`);
        }
        rows[index] = calibrate(perToken.slice(perToken.length - encoded[index].ids.length), this.options.calibration);
      }
    }
    return texts.map((text, i) => {
      const result: TokenScores = {
        tokens: encoded[i].bytes.map(tokenDisplayText),
        tokenIds: encoded[i].ids,
        charOffsets: charOffsets(text, encoded[i].bytes),
        values: rows[i],
      };
      if (notices[i]) result.notice = notices[i];
      return result;
    });
  }

  async score(problem: Problem, text: string, signal?: AbortSignal): Promise<TokenScores> {
    return (await this.scoreAll(problem, [text], signal))[0];
  }

  scoreMany(problem: Problem, texts: readonly string[], signal?: AbortSignal): Promise<TokenScores[]> {
    return this.scoreAll(problem, texts, signal);
  }

  async open(problem: Problem): Promise<CriticStream> {
    await this.promptIds(problem);
    return new RemoteCriticStream(this, problem);
  }

  async dispose(): Promise<void> {
    this.prompts.clear();
  }
}

class RemoteCriticStream implements CriticStream {
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly critic: RemoteCritic,
    private readonly problem: Problem,
    private text = '',
    private scored: TokenScores = { tokens: [], tokenIds: [], charOffsets: [], values: [] },
  ) {}

  append(chunk: string, signal?: AbortSignal): Promise<TokenScores> {
    this.text += chunk;
    const text = this.text;
    // In order, so a slow answer for an older text never overwrites a newer one.
    const done = this.last.then(async () => {
      const full = await this.critic.score(this.problem, text, signal);
      let same = 0;
      const old = this.scored.tokenIds;
      while (same < old.length && same < full.tokenIds.length && old[same] === full.tokenIds[same]) same++;
      this.scored = full;
      const changed: TokenScores = {
        tokens: full.tokens.slice(same),
        tokenIds: full.tokenIds.slice(same),
        charOffsets: full.charOffsets.slice(same),
        values: full.values.slice(same),
      };
      if (full.notice) changed.notice = full.notice;
      return changed;
    });
    this.last = done.catch(() => undefined);
    return done;
  }

  /** The server keeps no cache between requests: a fork is this stream's text and scores. */
  async fork(): Promise<CriticStream> {
    const text = this.text;
    await this.last;
    return new RemoteCriticStream(this.critic, this.problem, text, this.scored);
  }

  current(): TokenScores {
    return this.scored;
  }

  async close(): Promise<void> {
    await this.last;
  }
}

async function request<T>(url: string, options: RemoteCriticOptions, init: RequestInit, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) throw new AbortError('Critic scoring was cancelled.');
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 60_000);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await sendToOrigin(url, { ...init, signal: combined, headers: { 'content-type': 'application/json' } }, options);
  } catch (error) {
    if (signal?.aborted) throw new AbortError('Critic scoring was cancelled.');
    if (timeout.aborted) throw new CriticError('remote_error', `The critic server at ${url} did not answer within ${Math.round((options.timeoutMs ?? 60_000) / 1000)} s.`);
    // fetch fails with a TypeError when the server cannot be reached; the rest (declined,
    // redirected elsewhere, bad URL) already says what happened.
    if (!(error instanceof TypeError)) throw error;
    const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    throw new CriticError('remote_error', `Cannot reach the critic server at ${url} (${cause}). Start it with \`vllm serve CHECKPOINT --runner pooling\` or fix passlens.critic.url.`);
  }
  const body = await response.text();
  if (!response.ok) {
    let detail = body.slice(0, 300);
    try {
      const parsed = JSON.parse(body) as { message?: string; error?: { message?: string } | string; detail?: string };
      detail = (typeof parsed.error === 'object' ? parsed.error?.message : parsed.error) ?? parsed.message ?? parsed.detail ?? detail;
    } catch {
      // not JSON: keep the raw text
    }
    throw new CriticError('remote_error', `The critic server answered ${response.status} to ${new URL(url).pathname}: ${detail}`);
  }
  try {
    return JSON.parse(body) as T;
  } catch {
    throw new CriticError('remote_error', `The critic server at ${url} did not answer JSON; is passlens.critic.url a vLLM server?`);
  }
}

/** Connects to a vLLM server serving the critic; resolves the model name from /v1/models when not given. */
export async function createRemoteCritic(options: RemoteCriticOptions): Promise<Critic> {
  const root = options.url.replace(/\/+$/, '').replace(/\/v1$/, '');
  let model = options.model;
  if (!model) {
    const models = await request<{ data?: Array<{ id: string }> }>(`${root}/v1/models`, options, { method: 'GET' });
    model = models.data?.[0]?.id;
    if (!model) throw new CriticError('remote_error', `The server at ${root} serves no model; start vLLM with the critic checkpoint.`);
  }
  return new RemoteCritic(root, model, options, options.templates ?? DEFAULT_TEMPLATES);
}
