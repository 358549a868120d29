/**
 * Worker thread that runs transformers.js text generation, so the extension host's main
 * thread never waits on a model. Candidates are generated one after another (batch 1);
 * a logits processor records each sampled token's log-probability (which generate() does
 * not return) and applies top-k and top-p (which transformers.js does not: sampling.ts).
 */
import { parentPort } from 'node:worker_threads';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { FromWorker, LoadOptions, ToWorker } from './protocol';
import { logSumExp, truncateLogits } from './sampling';
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

/** Model inputs for the prompt's ids followed by a prefix's. */
function withPrefix(lib: Transformers, promptIds: number[], prefix: number[]) {
  const ids = [...promptIds, ...prefix];
  return {
    input_ids: new lib.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
    attention_mask: new lib.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
  };
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
  const prefix = [...(message.prefixText ? tokenizer.encode(message.prefixText, { add_special_tokens: false }) : []), ...(message.prefixIds ?? [])];
  const inputs = prefix.length ? withPrefix(lib, tokenizer.encode(prompt, { add_special_tokens: false }), prefix) : tokenizer(prompt, { add_special_tokens: false });
  const stops = message.stop ?? [];
  const doSample = message.temperature > 0;
  const configured = (model.generation_config as { eos_token_id?: number | number[] | null } | undefined)?.eos_token_id;
  const eos = new Set<number>([configured ?? tokenizer.eos_token_id].flat().filter((t): t is number => typeof t === 'number'));
  if (message.seed !== undefined) lib.random.seed(message.seed);

  // Runs after transformers.js' temperature warper (logits / T): records the tempered
  // distribution, then truncates to top-k and top-p for the sampler (which gets top_k 0).
  class SampleAsSpecified extends lib.LogitsProcessor {
    last: { logits: Float32Array; lse: number } | undefined;
    override _call(_inputIds: bigint[][], logits: InstanceType<Transformers['Tensor']>) {
      const data = logits.data as Float32Array;
      const tempered = Float32Array.from(data);
      this.last = { logits: tempered, lse: logSumExp(tempered) };
      if (doSample) truncateLogits(data, message.topK, message.topP);
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
    const recorder = new SampleAsSpecified();
    const processors = new lib.LogitsProcessorList();
    processors.push(recorder);
    const stopping = new lib.StoppingCriteriaList();
    stopping.push(new StopWhenCancelledOrStopped());
    stopped = false;
    // A continued response is decoded whole, so a character split across the boundary comes out once.
    let generated: number[] = prefix;
    const prefixText = prefix.length ? tokenizer.decode(prefix, { skip_special_tokens: true }).replace(/\uFFFD+$/, '') : '';
    let emittedText = prefixText;
    let sawEos = false;
    /** The response so far: cut before a stop string in the generated part (not in the prefix), which ends it. */
    const visible = (text: string) => {
      const at = stopIndex(text.slice(prefixText.length), stops);
      if (at < 0) return text;
      stopped = true;
      return text.slice(0, prefixText.length + at);
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
        const stable = text.endsWith('\uFFFD') ? emittedText : stopped ? text : text.slice(0, prefixText.length + emittableLength(text.slice(prefixText.length), stops));
        if (stable.length < emittedText.length) return;
        const added = stable.slice(emittedText.length);
        emittedText = stable;
        const last = recorder.last;
        const logprob = last ? last.logits[tokenId] - last.lse : Number.NaN;
        post({ type: 'token', id, candidate, text: added, tokenId, logprob });
      }
      override end() {}
    })();
    await model.generate({
      ...inputs,
      max_new_tokens: message.maxNewTokens,
      do_sample: doSample,
      temperature: doSample ? message.temperature : 1,
      top_k: 0,
      logits_processor: processors,
      stopping_criteria: stopping,
      // The declared type wants a TextStreamer; generate() only calls put() and end().
      streamer: streamer as unknown as InstanceType<Transformers['TextStreamer']>,
    });
    // A candidate that ends at once (end token first) has no ids, which decode() refuses.
    const finalText = generated.length ? visible(tokenizer.decode(generated, { skip_special_tokens: true })) : '';
    const finishReason = cancelled.has(id) ? 'cancelled' : sawEos || stopped ? 'stop' : 'length';
    if (finalText.length > emittedText.length && !(message.holdPartial && finishReason === 'length')) {
      post({ type: 'token', id, candidate, text: finalText.slice(emittedText.length), tokenId: -1, logprob: Number.NaN });
    }
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
