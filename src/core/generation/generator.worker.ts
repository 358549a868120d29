/**
 * Worker thread that runs transformers.js text generation, so the extension host's main
 * thread never waits on a model. Candidates are generated one after another (batch 1);
 * a logits processor records each sampled token's log-probability, which generate() does
 * not return.
 */
import { parentPort } from 'node:worker_threads';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { FromWorker, LoadOptions, ToWorker } from './protocol';
import { emittableLength, stopIndex } from './stop';

type Transformers = typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });
type Tokenizer = Awaited<ReturnType<Transformers['AutoTokenizer']['from_pretrained']>>;
type Model = Awaited<ReturnType<Transformers['AutoModelForCausalLM']['from_pretrained']>>;

const port = parentPort;
if (!port) throw new Error('generator.worker must run in a worker thread');

let loaded: { tokenizer: Tokenizer; model: Model; lib: Transformers; chatTemplate?: string } | undefined;
const cancelled = new Set<number>();
const post = (message: FromWorker) => port.postMessage(message);

function describeLoadError(error: unknown, options: LoadOptions, isFolder: boolean): string {
  const text = error instanceof Error ? error.message : String(error);
  if (/bad_alloc|Failed to allocate|out of memory|ENOMEM/i.test(text)) {
    return `The generator model ${options.model} (${options.dtype}) is too large for this machine's memory. Pick a smaller dtype (q4) or a smaller model.`;
  }
  // Offline, a hub id that is not fully cached fails in many ways inside the library.
  if (options.offlineOnly && !isFolder) {
    return `The generator model ${options.model} is not on this machine and offline-only is on. Pick a local folder or turn off passlens.generator.offlineOnly. (${text})`;
  }
  return `Could not load the generator model ${options.model}: ${text}`;
}

async function load(options: LoadOptions): Promise<void> {
  const lib = await import('@huggingface/transformers');
  const folder = resolve(options.model);
  const isFolder = existsSync(folder) && statSync(folder).isDirectory();
  let id = options.model;
  if (isFolder) {
    // transformers.js resolves local models as <localModelPath>/<id>.
    lib.env.localModelPath = dirname(folder);
    lib.env.allowLocalModels = true;
    lib.env.allowRemoteModels = false;
    id = basename(folder);
  } else {
    lib.env.allowRemoteModels = !options.offlineOnly;
    if (options.cacheDir) lib.env.cacheDir = options.cacheDir;
  }
  const progress_callback = (info: { status: string; file?: string; loaded?: number; total?: number }) => {
    if (info.status === 'progress' && info.file) post({ type: 'progress', file: info.file, loaded: info.loaded ?? 0, total: info.total ?? 0 });
  };
  try {
    const tokenizer = await lib.AutoTokenizer.from_pretrained(id, { progress_callback, local_files_only: isFolder || options.offlineOnly });
    const model = await lib.AutoModelForCausalLM.from_pretrained(id, {
      dtype: options.dtype,
      device: 'cpu',
      progress_callback,
      local_files_only: isFolder || options.offlineOnly,
    });
    // Folders saved by recent Python transformers keep the template in chat_template.jinja,
    // which transformers.js does not read by itself.
    const jinja = join(folder, 'chat_template.jinja');
    const chatTemplate = isFolder && !tokenizer.chat_template && existsSync(jinja) ? readFileSync(jinja, 'utf8') : undefined;
    loaded = { tokenizer, model, lib, chatTemplate };
  } catch (error) {
    throw new Error(describeLoadError(error, options, isFolder));
  }
}

function logSumExp(values: Float32Array, scale: number): number {
  let max = -Infinity;
  for (const v of values) if (v * scale > max) max = v * scale;
  let sum = 0;
  for (const v of values) sum += Math.exp(v * scale - max);
  return max + Math.log(sum);
}

async function generate(message: Extract<ToWorker, { type: 'generate' }>): Promise<void> {
  if (!loaded) throw new Error('generator model not loaded');
  const { tokenizer, model, lib, chatTemplate } = loaded;
  const { id } = message;
  const prompt = tokenizer.apply_chat_template(message.messages, {
    add_generation_prompt: true,
    tokenize: false,
    ...(chatTemplate ? { chat_template: chatTemplate } : {}),
  }) as string;
  // A response prefix is the start of the assistant turn: generation continues it.
  const inputs = tokenizer(prompt + (message.responsePrefix ?? ''), { add_special_tokens: false });
  const stops = message.stop ?? [];
  const doSample = message.temperature > 0;
  // The temperature warper divided the logits by T before us: multiplying by T gives the model's own.
  const scale = doSample ? message.temperature : 1;
  const configured = (model.generation_config as { eos_token_id?: number | number[] | null } | undefined)?.eos_token_id;
  const eos = new Set<number>([configured ?? tokenizer.eos_token_id].flat().filter((t): t is number => typeof t === 'number'));
  if (message.seed !== undefined) lib.random.seed(message.seed);

  class RecordLogprobs extends lib.LogitsProcessor {
    last: { logits: Float32Array; lse: number } | undefined;
    override _call(_inputIds: bigint[][], logits: InstanceType<Transformers['Tensor']>) {
      const data = Float32Array.from(logits.data as Float32Array);
      this.last = { logits: data, lse: logSumExp(data, scale) };
      return logits;
    }
  }
  let stopped = false;
  class StopWhenCancelledOrStopped extends lib.StoppingCriteria {
    override _call(inputIds: number[][]) {
      return inputIds.map(() => cancelled.has(id) || stopped);
    }
  }

  for (let candidate = 0; candidate < message.n && !cancelled.has(id); candidate++) {
    const recorder = new RecordLogprobs();
    const processors = new lib.LogitsProcessorList();
    processors.push(recorder);
    const stopping = new lib.StoppingCriteriaList();
    stopping.push(new StopWhenCancelledOrStopped());
    stopped = false;
    let generated: number[] = [];
    let emittedText = '';
    let sawEos = false;
    /** The candidate's text so far: cut before a stop string, which ends it. */
    const visible = (text: string) => {
      const at = stopIndex(text, stops);
      if (at < 0) return text;
      stopped = true;
      return text.slice(0, at);
    };
    // Streams by re-decoding the generated ids: the text a step adds is the difference,
    // which keeps multi-byte characters split across tokens intact.
    const streamer = new (class extends lib.BaseStreamer {
      // generate() first puts the prompt, then one id per step.
      prompted = false;
      override put(value: bigint[][]) {
        if (!this.prompted) {
          this.prompted = true;
          return;
        }
        const tokenId = Number(value[0][0]);
        if (eos.has(tokenId) || stopped) {
          sawEos ||= eos.has(tokenId);
          return;
        }
        generated = [...generated, tokenId];
        const text = visible(tokenizer.decode(generated, { skip_special_tokens: true }));
        // Hold back a partial character, and a tail that may still become a stop string.
        const stable = text.endsWith('\uFFFD') ? emittedText : stopped ? text : text.slice(0, emittableLength(text, stops));
        if (stable.length < emittedText.length) return;
        const added = stable.slice(emittedText.length);
        emittedText = stable;
        const last = recorder.last;
        const logprob = last ? last.logits[tokenId] * scale - last.lse : Number.NaN;
        post({ type: 'token', id, candidate, text: added, tokenId, logprob });
      }
      override end() {}
    })();
    await model.generate({
      ...inputs,
      max_new_tokens: message.maxNewTokens,
      do_sample: doSample,
      temperature: doSample ? message.temperature : 1,
      top_p: message.topP ?? 1,
      logits_processor: processors,
      stopping_criteria: stopping,
      // The declared type wants a TextStreamer; generate() only calls put() and end().
      streamer: streamer as unknown as InstanceType<Transformers['TextStreamer']>,
    });
    const finalText = visible(tokenizer.decode(generated, { skip_special_tokens: true }));
    if (finalText.length > emittedText.length) {
      post({ type: 'token', id, candidate, text: finalText.slice(emittedText.length), tokenId: -1, logprob: Number.NaN });
    }
    const finishReason = cancelled.has(id) ? 'cancelled' : sawEos || stopped ? 'stop' : 'length';
    post({ type: 'done', id, candidate, finishReason });
  }
  for (let candidate = 0; candidate < message.n; candidate++) {
    // Candidates never started because of a cancel still get their end event (idempotent on the host side).
    if (cancelled.has(id)) post({ type: 'done', id, candidate, finishReason: 'cancelled' });
  }
}

// Messages are handled one at a time; 'cancel' must be seen during a generate, so it is not queued.
let queue = Promise.resolve();
port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    cancelled.add(message.id);
    return;
  }
  queue = queue.then(async () => {
    try {
      if (message.type === 'load') {
        await load(message.options);
        post({ type: 'loaded' });
      } else {
        await generate(message);
        cancelled.delete(message.id);
        post({ type: 'finished', id: message.id });
      }
    } catch (error) {
      post({ type: 'error', id: message.type === 'generate' ? message.id : undefined, message: error instanceof Error ? error.message : String(error) });
    }
  });
});
