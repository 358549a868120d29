/**
 * The local critic: a bundle's tokenizer (transformers.js) and ONNX graph (onnxruntime-node).
 * It runs inside critic.worker.ts; `loadCritic` (local.ts) is the thread-safe front.
 *
 * The prompt's key/value cache is computed once per problem and reused: `score` runs only
 * the response tokens on top of it, `scoreMany` batches responses over it, and a stream
 * extends it token by token. The cache stays in buffers onnxruntime reads in place
 * (kvCache.ts): an append costs the new tokens' pass and the copy of their keys/values, a
 * cut costs nothing. Results equal one full forward pass (float rounding aside).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildMessages } from '../contracts/prompt';
import { AbortError } from '../shared/abort';
import type { Problem } from '../problem/types';
import { CriticError, isOutOfMemory } from './errors';
import { verifyFile, type VerifiedFile } from './integrity';
import { KvCache, type KvShape } from './kvCache';
import { modelFile, readManifest, type CriticDtype, type CriticManifest, type ModelFileEntry } from './manifest';
import { ByteLevelVocabulary, charOffsets, tokenDisplayText } from './offsets';
import type { CriticInfo, TokenScores } from './types';

export type ExecutionProvider = 'cpu' | 'cuda' | 'dml' | 'coreml';

export interface LocalCriticOptions {
  bundlePath: string;
  executionProvider?: ExecutionProvider;
  /** Model variant; the manifest's default when absent. */
  dtype?: CriticDtype;
  /** Longest prompt + response scored; longer prompts lose their beginning. Default: the manifest's max_positions. */
  maxContextTokens?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, all cores). */
  threads?: number;
  /**
   * Folder for the model files' verified hashes (by path, size and mtime): later loads of an
   * unchanged file skip hashing it. Without it every load hashes.
   */
  hashCacheDir?: string;
}

type Transformers = typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });
type Tokenizer = Awaited<ReturnType<Transformers['AutoTokenizer']['from_pretrained']>>;

interface PreparedPrompt {
  ids: number[];
  /** Prompt tokens dropped from the left to fit the context. */
  dropped: number;
  kv: KvCache | undefined;
}

interface StreamState {
  problem: Problem;
  prompt: PreparedPrompt;
  text: string;
  /** A prefix of the tokens of `text`; the cache holds the prompt and exactly these. */
  ids: number[];
  bytes: Uint8Array[];
  values: number[];
  kv: KvCache | undefined;
}

/** One pass's values and, for batch 1, its key/value outputs ([1, heads, kvLength, headDim] each). */
interface PassResult {
  values: number[][];
  kv: Float32Array[] | undefined;
  kvLength: number;
}

/** What the engine holds, for tests and benchmarks. */
export interface CacheStats {
  prompts: number;
  streams: number;
  /** Bytes of key/value buffers held (a buffer shared by a prompt and its streams counted once). */
  kvBytes: number;
}

const PROVIDER_PLATFORMS: Record<Exclude<ExecutionProvider, 'cpu'>, { ok: () => boolean; label: string }> = {
  cuda: { ok: () => (process.platform === 'linux' || process.platform === 'win32') && process.arch === 'x64', label: 'CUDA (Linux or Windows x64 with an NVIDIA GPU)' },
  dml: { ok: () => process.platform === 'win32', label: 'DirectML (Windows)' },
  coreml: { ok: () => process.platform === 'darwin', label: 'CoreML (macOS)' },
};
/** How many candidates share one batched pass: bounded so the tiled prompt cache stays small. */
const MAX_BATCH = 8;
const BATCH_KV_BUDGET_BYTES = 512 * 1024 * 1024;
const SAMPLE_TOLERANCE = 1e-3;

export class CriticEngine {
  private readonly promptCache = new Map<string, PreparedPrompt>();
  private readonly streams = new Map<number, StreamState>();
  private nextStream = 1;
  private readonly kvShape: KvShape;
  readonly maxContextTokens: number;

  private constructor(
    readonly info: CriticInfo & { dtype: CriticDtype; notices: string[]; verified: VerifiedFile[] },
    private readonly manifest: CriticManifest,
    private readonly session: ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly vocabulary: ByteLevelVocabulary,
    maxContextTokens: number,
  ) {
    const arch = manifest.architecture;
    this.kvShape = { layers: arch.num_layers, heads: arch.num_kv_heads, headDim: arch.head_dim };
    this.maxContextTokens = maxContextTokens;
  }

  static async load(options: LocalCriticOptions): Promise<CriticEngine> {
    const bundle = options.bundlePath;
    const manifest = readManifest(bundle);
    const model = modelFile(bundle, manifest, options.dtype);
    const notices: string[] = [];
    const verified = await verifyModelFiles(bundle, model.path, model.entry, options.hashCacheDir, notices);
    const { tokenizer, vocabulary } = await loadTokenizer(bundle, manifest);
    const { session, provider } = await createSession(model.path, options.executionProvider ?? 'cpu', options.threads, notices);
    checkGraph(session, manifest, model.path);
    const maxContext = Math.min(options.maxContextTokens ?? manifest.architecture.max_positions, manifest.architecture.max_positions);
    const engine = new CriticEngine(
      {
        name: `${basename(bundle)} (${manifest.base_model}, ${model.dtype})`,
        baseModel: manifest.base_model,
        templates: { system: manifest.prompt.system, standard_input: manifest.prompt.standard_input, call_based: manifest.prompt.call_based },
        specialIds: tokenizer.all_special_ids,
        provider,
        dtype: model.dtype,
        notices,
        verified,
      },
      manifest,
      session,
      tokenizer,
      vocabulary,
      maxContext,
    );
    await engine.checkSample(model.path);
    return engine;
  }

  /** The recorded PyTorch sample must come out again, else graph and manifest do not belong together. */
  private async checkSample(path: string): Promise<void> {
    const sample = this.manifest.sample;
    const ids = this.encodeText(sample.text).ids;
    if (ids.join(',') !== sample.input_ids.join(',')) {
      throw new CriticError('tokenizer_mismatch', `The critic bundle's tokenizer does not reproduce the tokens recorded at export (${this.manifest.sample.text.length}-character sample). Re-export the bundle so tokenizer and model match.`);
    }
    const { values } = await this.forward([ids], undefined);
    if (this.info.dtype !== 'fp32') return;
    const gap = Math.max(...sample.values.map((v, i) => Math.abs(v - values[0][i])));
    if (!(gap <= SAMPLE_TOLERANCE)) {
      throw new CriticError('onnx_mismatch', `${path} does not match ${this.manifest.base_model}'s manifest: its values differ from the ones recorded at export by ${gap.toExponential(2)}. The bundle mixes files from different exports; export it again.`);
    }
  }

  // ------------------------------------------------------------ tokens

  encodeText(text: string): { ids: number[]; bytes: Uint8Array[] } {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false });
    return { ids, bytes: ids.map((id) => this.vocabulary.bytes(id)) };
  }

  promptText(problem: Problem): string {
    const messages = buildMessages(problem, this.info.templates);
    return this.tokenizer.apply_chat_template(messages, {
      add_generation_prompt: this.manifest.prompt.add_generation_prompt,
      tokenize: false,
      chat_template: this.manifest.prompt.chat_template,
    }) as string;
  }

  private scores(text: string, ids: number[], bytes: Uint8Array[], values: number[], from = 0, notice?: string): TokenScores {
    const offsets = charOffsets(text, bytes);
    const result: TokenScores = {
      tokens: bytes.slice(from).map(tokenDisplayText),
      tokenIds: ids.slice(from),
      charOffsets: offsets.slice(from),
      values: values.slice(from),
    };
    if (notice) result.notice = notice;
    return result;
  }

  // ------------------------------------------------------------ prompt and truncation

  /** The prompt's tokens and cache, left-truncated so `responseTokens` more fit the context. */
  private async prompt(problem: Problem, responseTokens: number): Promise<PreparedPrompt> {
    if (responseTokens > this.maxContextTokens) {
      throw new CriticError('too_long', `The text to score has ${responseTokens} tokens; this critic reads at most ${this.maxContextTokens} (prompt included). Score a shorter text.`);
    }
    const text = this.promptText(problem);
    const full = this.encodeText(text).ids;
    const dropped = Math.max(0, full.length + responseTokens - this.maxContextTokens);
    const key = `${dropped}\u0000${text}`;
    const cached = this.promptCache.get(key);
    if (cached) return cached;
    const ids = full.slice(dropped);
    let kv: KvCache | undefined;
    if (this.manifest.onnx.past_key_values) kv = ids.length ? this.newCache(await this.forward([ids], undefined), ids.length) : KvCache.empty(this.kvShape);
    const prepared = { ids, dropped, kv };
    // A few prompts at a time: the editor scores one problem, best-of-n another.
    if (this.promptCache.size >= 4) this.promptCache.delete(this.promptCache.keys().next().value as string);
    this.promptCache.set(key, prepared);
    return prepared;
  }

  private truncationNotice(prompt: PreparedPrompt): string | undefined {
    if (!prompt.dropped) return undefined;
    return `The prompt was cut: its first ${prompt.dropped} tokens were dropped so prompt and response fit the critic's ${this.maxContextTokens}-token context.`;
  }

  // ------------------------------------------------------------ scoring

  async score(problem: Problem, text: string): Promise<TokenScores> {
    const { ids, bytes } = this.encodeText(text);
    const prompt = await this.prompt(problem, ids.length);
    const values = ids.length ? await this.runAfterPrompt(prompt, [ids]) : [[]];
    return this.scores(text, ids, bytes, values[0], 0, this.truncationNotice(prompt));
  }

  async scoreMany(problem: Problem, texts: readonly string[], isCancelled: () => boolean = () => false): Promise<TokenScores[]> {
    const encoded = texts.map((t) => this.encodeText(t));
    const longest = Math.max(0, ...encoded.map((e) => e.ids.length));
    const prompt = await this.prompt(problem, longest);
    const results: TokenScores[] = new Array(texts.length);
    // Similar lengths together, so padding wastes little.
    const order = encoded.map((_, i) => i).filter((i) => encoded[i].ids.length > 0).sort((a, b) => encoded[a].ids.length - encoded[b].ids.length);
    for (let i = 0; i < texts.length; i++) if (!encoded[i].ids.length) results[i] = this.scores(texts[i], [], [], []);
    const perTokenKvBytes = 2 * this.kvShape.layers * this.kvShape.heads * this.kvShape.headDim * 4;
    const batchLimit = Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_KV_BUDGET_BYTES / (perTokenKvBytes * (prompt.ids.length + longest + 1)))));
    for (let start = 0; start < order.length; start += batchLimit) {
      if (isCancelled()) throw new AbortError('Critic scoring was cancelled.');
      const group = order.slice(start, start + batchLimit);
      const values = await this.runAfterPrompt(prompt, group.map((i) => encoded[i].ids));
      group.forEach((index, row) => {
        results[index] = this.scores(texts[index], encoded[index].ids, encoded[index].bytes, values[row], 0, this.truncationNotice(prompt));
      });
    }
    return results;
  }

  /** Values of each row of `rows` scored after the prompt (one pass when the graph has no past input). */
  private async runAfterPrompt(prompt: PreparedPrompt, rows: number[][]): Promise<number[][]> {
    if (!this.manifest.onnx.past_key_values) {
      const { values } = await this.forward(rows.map((r) => [...prompt.ids, ...r]), undefined);
      return values.map((v) => v.slice(prompt.ids.length));
    }
    return (await this.forward(rows, prompt.kv)).values;
  }

  // ------------------------------------------------------------ streams

  async open(problem: Problem): Promise<number> {
    const prompt = await this.prompt(problem, 0);
    const id = this.nextStream++;
    this.streams.set(id, { problem, prompt, text: '', ids: [], bytes: [], values: [], kv: prompt.kv?.fork() });
    return id;
  }

  /**
   * Appends text. Re-tokenising can change the last tokens (a BPE merge across the chunk
   * boundary), so the cache is cut back to the longest unchanged token prefix and
   * everything after it is scored again: the result is what one full pass gives.
   */
  async append(streamId: number, chunk: string): Promise<{ from: number; scores: TokenScores }> {
    const state = this.streams.get(streamId);
    if (!state) throw new CriticError('disposed', 'This critic stream is closed; open a new one.');
    const text = state.text + chunk;
    const { ids, bytes } = this.encodeText(text);
    if (state.prompt.ids.length + ids.length > this.maxContextTokens || !this.manifest.onnx.past_key_values) {
      // The prompt must be cut further (or the graph has no cache): score everything again.
      const prompt = await this.prompt(state.problem, ids.length);
      let values: number[] = [];
      const kv = prompt.kv?.fork();
      if (ids.length && kv) {
        const out = await this.forward([ids], kv);
        values = out.values[0];
        this.extend(kv, out, ids.length);
      } else if (ids.length) {
        values = (await this.runAfterPrompt(prompt, [ids]))[0];
      }
      Object.assign(state, { prompt, text, ids, bytes, values, kv });
      return { from: 0, scores: this.scores(text, ids, bytes, values, 0, this.truncationNotice(prompt)) };
    }
    let same = 0;
    while (same < state.ids.length && same < ids.length && state.ids[same] === ids[same]) same++;
    // Cut first, and keep the state's tokens in step with the cache, so a pass that fails
    // leaves a stream that the next append continues correctly.
    state.kv?.truncate(state.prompt.ids.length + same);
    Object.assign(state, { ids: state.ids.slice(0, same), bytes: state.bytes.slice(0, same), values: state.values.slice(0, same) });
    let values = state.values;
    if (ids.length > same && state.kv) {
      const out = await this.forward([ids.slice(same)], state.kv);
      this.extend(state.kv, out, ids.length - same);
      values = values.concat(out.values[0]);
    }
    Object.assign(state, { text, ids, bytes, values });
    return { from: same, scores: this.scores(text, ids, bytes, values, same, this.truncationNotice(state.prompt)) };
  }

  /**
   * A new stream holding `streamId`'s text and scores. The cache is shared, not copied: both
   * streams get copy-on-write views of it (the cache is written in place, and a cut lets an
   * append overwrite positions the other stream still reads), so each copies it at its first write.
   */
  fork(streamId: number): number {
    const state = this.streams.get(streamId);
    if (!state) throw new CriticError('disposed', 'This critic stream is closed; open a new one.');
    const id = this.nextStream++;
    const kv = state.kv;
    state.kv = kv?.fork();
    this.streams.set(id, { ...state, kv: kv?.fork() });
    return id;
  }

  close(streamId: number): void {
    this.streams.delete(streamId);
  }

  cacheStats(): CacheStats {
    const buffers = new Set<Float32Array>();
    const caches = [...this.promptCache.values()].map((p) => p.kv).concat([...this.streams.values()].map((s) => s.kv));
    for (const kv of caches) for (const tensor of kv?.past ?? []) buffers.add(tensor);
    return { prompts: this.promptCache.size, streams: this.streams.size, kvBytes: [...buffers].reduce((sum, t) => sum + t.byteLength, 0) };
  }

  async dispose(): Promise<void> {
    this.streams.clear();
    this.promptCache.clear();
    await this.session.release();
  }

  // ------------------------------------------------------------ the graph

  /** A cache holding a pass's key/value outputs for a sequence scored from nothing. */
  private newCache(pass: PassResult, length: number): KvCache | undefined {
    return pass.kv && KvCache.fromOutputs(this.kvShape, pass.kv, length);
  }

  /** Writes a batch-1 pass's new keys/values (its last `count` positions) into `kv`. */
  private extend(kv: KvCache, pass: PassResult, count: number): void {
    if (!pass.kv) throw new Error('a pass with past key/values returned none');
    kv.append(pass.kv, pass.kvLength, count, this.maxContextTokens);
  }

  /**
   * One pass over right-padded rows after an optional batch-1 cache (tiled to the batch).
   * The cache goes in whole, its positions past `length` masked out. Returns each row's
   * values (unpadded) and, for batch 1, the key/value outputs: the new tokens' (or, from a
   * graph in the Optimum `present` layout, past + new: the new ones are the last).
   */
  private async forward(rows: number[][], past: KvCache | undefined): Promise<PassResult> {
    const batch = rows.length;
    const width = Math.max(...rows.map((r) => r.length));
    const live = past?.length ?? 0;
    const capacity = past?.capacity ?? 0;
    const total = capacity + width;
    const inputIds = new BigInt64Array(batch * width);
    const mask = new BigInt64Array(batch * total);
    const positions = new BigInt64Array(batch * width);
    const pad = BigInt(this.manifest.tokenizer.pad_token_id ?? 0);
    rows.forEach((row, b) => {
      for (let t = 0; t < width; t++) {
        inputIds[b * width + t] = t < row.length ? BigInt(row[t]) : pad;
        // Padding sits after the real tokens, which never attend to it; its positions just continue.
        positions[b * width + t] = BigInt(live + t);
      }
      for (let t = 0; t < live; t++) mask[b * total + t] = 1n;
      for (let t = 0; t < row.length; t++) mask[b * total + capacity + t] = 1n;
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [batch, width]),
      attention_mask: new ort.Tensor('int64', mask, [batch, total]),
      position_ids: new ort.Tensor('int64', positions, [batch, width]),
    };
    const { layers, heads, headDim } = this.kvShape;
    if (this.manifest.onnx.past_key_values) {
      for (let i = 0; i < 2 * layers; i++) {
        const source = past?.past[i] ?? new Float32Array(0);
        const data = batch === 1 ? source : tile(source, batch);
        feeds[this.manifest.onnx.inputs[3 + i]] = new ort.Tensor('float32', data, [batch, heads, capacity, headDim]);
      }
    }
    let outputs: ort.InferenceSession.OnnxValueMapType;
    try {
      outputs = await this.session.run(feeds);
    } catch (error) {
      if (isOutOfMemory(error)) {
        throw new CriticError('out_of_memory', `The critic ran out of memory scoring ${batch} × ${live + width} tokens. Use a smaller variant (int8 or int4), score fewer candidates at once, or lower the context.`);
      }
      throw new CriticError('onnx_invalid', `The critic model failed to run: ${(error as Error).message}`);
    }
    const flat = outputs[this.manifest.onnx.outputs[0]].data as Float32Array;
    const values = rows.map((row, b) => Array.from(flat.subarray(b * width, b * width + row.length)));
    if (!this.manifest.onnx.past_key_values || batch !== 1) return { values, kv: undefined, kvLength: 0 };
    const kvOutputs = this.manifest.onnx.outputs.slice(1).map((name) => outputs[name] as ort.Tensor);
    return { values, kv: kvOutputs.map((t) => t.data as Float32Array), kvLength: kvOutputs[0].dims[2] };
  }
}

function tile(data: Float32Array, times: number): Float32Array {
  const out = new Float32Array(data.length * times);
  for (let b = 0; b < times; b++) out.set(data, b * data.length);
  return out;
}

async function loadTokenizer(bundle: string, manifest: CriticManifest): Promise<{ tokenizer: Tokenizer; vocabulary: ByteLevelVocabulary }> {
  const tokenizerPath = join(bundle, 'tokenizer.json');
  const raw = readFileSync(tokenizerPath);
  if (manifest.tokenizer.tokenizer_json_sha256 && createHash('sha256').update(raw).digest('hex') !== manifest.tokenizer.tokenizer_json_sha256) {
    throw new CriticError('tokenizer_mismatch', `${tokenizerPath} is not the tokenizer this critic was exported with (its checksum differs from passlens-critic.json). Copy the bundle's own tokenizer files back or export the bundle again.`);
  }
  let json: ConstructorParameters<typeof ByteLevelVocabulary>[0];
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new CriticError('tokenizer_mismatch', `${tokenizerPath} is not valid JSON (${(error as Error).message}). Export the bundle again.`);
  }
  const vocabulary = new ByteLevelVocabulary(json);
  if (vocabulary.size > manifest.architecture.vocab_size) {
    throw new CriticError('tokenizer_mismatch', `The bundle's tokenizer has ${vocabulary.size} tokens but the model only ${manifest.architecture.vocab_size}: tokenizer and model do not belong together. Export the bundle again.`);
  }
  const lib: Transformers = await import('@huggingface/transformers');
  // Local files only: transformers.js resolves `<localModelPath>/<id>`.
  lib.env.allowRemoteModels = false;
  lib.env.allowLocalModels = true;
  lib.env.localModelPath = dirname(bundle);
  const tokenizer = await lib.AutoTokenizer.from_pretrained(basename(bundle), { local_files_only: true });
  return { tokenizer, vocabulary };
}

async function createSession(path: string, requested: ExecutionProvider, threads: number | undefined, notices: string[]): Promise<{ session: ort.InferenceSession; provider: string }> {
  const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads } : {}) };
  if (requested !== 'cpu') {
    const platform = PROVIDER_PLATFORMS[requested];
    if (!platform) {
      notices.push(`Unknown execution provider "${requested}"; using CPU. Choose cpu, cuda, dml or coreml.`);
    } else if (!platform.ok()) {
      notices.push(`The ${requested} execution provider needs ${platform.label}; this is ${process.platform}-${process.arch}. Using CPU.`);
    } else {
      try {
        return { session: await ort.InferenceSession.create(path, { ...base, executionProviders: [requested] }), provider: requested };
      } catch (error) {
        if (isOutOfMemory(error)) throw outOfMemoryOnLoad(path);
        notices.push(`Could not start the ${requested} execution provider (${firstLine(error)}); using CPU. Check the GPU driver and runtime libraries.`);
      }
    }
  }
  try {
    return { session: await ort.InferenceSession.create(path, { ...base, executionProviders: ['cpu'] }), provider: 'cpu' };
  } catch (error) {
    if (isOutOfMemory(error)) throw outOfMemoryOnLoad(path);
    throw new CriticError('onnx_invalid', `Could not load the critic model ${path}: ${firstLine(error)}. The file is damaged or incomplete: copy the bundle again or re-export it.`);
  }
}

function outOfMemoryOnLoad(path: string): CriticError {
  return new CriticError('out_of_memory', `Not enough memory to load the critic model ${path}. Use a smaller variant (int8 or int4) of the bundle.`);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}

/** The graph must have the manifest's inputs, outputs and cache shape. */
function checkGraph(session: ort.InferenceSession, manifest: CriticManifest, path: string): void {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(session.inputNames, manifest.onnx.inputs) || !same(session.outputNames, manifest.onnx.outputs)) {
    throw new CriticError(
      'onnx_mismatch',
      `${path} does not fit passlens-critic.json: the graph has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], the manifest expects [${manifest.onnx.inputs.join(', ')}] → [${manifest.onnx.outputs.join(', ')}]. Export the bundle again.`,
    );
  }
  const { num_kv_heads: heads, head_dim: headDim } = manifest.architecture;
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor || !meta.name.startsWith('past_key_values.')) continue;
    const [, h, , d] = meta.shape;
    if ((typeof h === 'number' && h !== heads) || (typeof d === 'number' && d !== headDim)) {
      throw new CriticError('onnx_mismatch', `${path}: ${meta.name} has shape [${meta.shape.join(', ')}] but the manifest says ${heads} key/value heads of size ${headDim}. Export the bundle again.`);
    }
  }
}

/** The model file and its external data against the manifest's sha256 (file_corrupt when they differ). */
async function verifyModelFiles(
  bundle: string,
  modelPath: string,
  entry: ModelFileEntry,
  cacheDir: string | undefined,
  notices: string[],
): Promise<VerifiedFile[]> {
  const verified = [await verifyFile(modelPath, entry.sha256, { expectedBytes: entry.bytes, cacheDir })];
  if (entry.external_data) {
    const dataPath = join(bundle, entry.external_data);
    if (entry.external_data_sha256) verified.push(await verifyFile(dataPath, entry.external_data_sha256, { cacheDir }));
    else notices.push(`${dataPath} was not checked: the manifest records no external_data_sha256 (the bundle predates it). Re-export the bundle to have its weights checked.`);
  }
  return verified;
}
