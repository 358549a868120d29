import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LocalGenerator } from '../../src/core/generation/local';
import { collectCandidates, type GenerationEvent } from '../../src/core/generation/types';
import { buildMessages } from '../../src/core/contracts/prompt';
import { tinyGenerator } from '../fixtures/models';

let folder: string;
let generator: LocalGenerator;
const messages = buildMessages({ question: 'Print the sum of two numbers.', kind: 'standard_input' });

before(() => {
  folder = tinyGenerator();
  generator = new LocalGenerator({ model: folder, dtype: 'fp32', offlineOnly: true });
});

after(() => generator.dispose());

test('loads a local folder in a worker thread and streams N candidates', async () => {
  await generator.load();
  const streamed: number[] = [];
  const candidates = await collectCandidates(generator, { messages, n: 3, temperature: 1, maxNewTokens: 10, seed: 7 }, undefined, (e) => {
    if (e.type === 'token') streamed.push(e.candidate);
  });
  assert.equal(candidates.length, 3);
  for (const c of candidates) {
    assert.equal(c.tokenIds.length, c.logprobs.length);
    assert.ok(c.tokenIds.length > 0 && c.tokenIds.length <= 10);
    assert.ok(c.logprobs.every((l) => l < 0 && Number.isFinite(l)));
    assert.ok(['stop', 'length'].includes(c.finishReason));
  }
  assert.deepEqual([...new Set(streamed)], [0, 1, 2], 'candidates stream in order, token by token');
  assert.notDeepEqual(candidates[0].tokenIds, candidates[1].tokenIds, 'sampling gives different candidates');
});

test('log-probabilities equal a scoring pass over prompt + generated tokens, under the tempered distribution (as training records them)', async () => {
  const [candidate] = await collectCandidates(generator, { messages, n: 1, temperature: 0.7, maxNewTokens: 6, seed: 3 });
  const lib = await import('@huggingface/transformers');
  lib.env.localModelPath = folder.replace(/[^/]+$/, '');
  lib.env.allowRemoteModels = false;
  const name = folder.split('/').pop()!;
  const tokenizer = await lib.AutoTokenizer.from_pretrained(name);
  const model = await lib.AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32' });
  const { readFileSync } = await import('node:fs');
  const prompt = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false, chat_template: readFileSync(`${folder}/chat_template.jinja`, 'utf8') }) as string;
  const promptIds = Array.from(tokenizer(prompt, { add_special_tokens: false }).input_ids.data as BigInt64Array, Number);
  const ids = [...promptIds, ...candidate.tokenIds];
  const input = new lib.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
  const output = await model({ input_ids: input, attention_mask: new lib.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]) });
  const logits = output.logits as InstanceType<typeof lib.Tensor>;
  const vocab = logits.dims[2];
  const data = logits.data as Float32Array;
  candidate.tokenIds.forEach((token, k) => {
    const row = Array.from(data.subarray((promptIds.length - 1 + k) * vocab, (promptIds.length + k) * vocab), (v) => v / 0.7);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    assert.ok(Math.abs(row[token] - lse - candidate.logprobs[k]) < 1e-3, `token ${k}: ${row[token] - lse} vs ${candidate.logprobs[k]}`);
  });
  await model.dispose();
});

test('greedy decoding is deterministic across candidates', async () => {
  const candidates = await collectCandidates(generator, { messages, n: 2, temperature: 0, maxNewTokens: 8 });
  assert.deepEqual(candidates[0].tokenIds, candidates[1].tokenIds);
  assert.equal(candidates[0].text, candidates[1].text);
});

test('cancelling stops generation and ends every candidate as cancelled', async () => {
  const controller = new AbortController();
  const candidates = await collectCandidates(generator, { messages, n: 3, temperature: 1, maxNewTokens: 200 }, controller.signal, (e) => {
    if (e.type === 'token') controller.abort();
  });
  assert.equal(candidates[0].finishReason, 'cancelled');
  assert.ok(candidates[0].tokenIds.length < 200);
  assert.deepEqual(candidates.slice(1).map((c) => c.tokenIds.length), [0, 0], 'later candidates never start');
});

test('an uncached hub id with offline-only says so', async () => {
  const offline = new LocalGenerator({ model: 'nobody/not-a-model-ONNX', dtype: 'q4', offlineOnly: true });
  await assert.rejects(offline.load(), /not on this machine and offline-only is on/);
  await offline.dispose();
});

/** Reads a single-candidate stream to its end. */
async function readStream(events: AsyncIterable<GenerationEvent>, onToken?: (count: number) => void) {
  const out = { text: '', tokenIds: [] as number[], tokenTexts: [] as string[], finishReason: '' };
  for await (const e of events) {
    if (e.type === 'done') out.finishReason = e.finishReason;
    else {
      out.text += e.text;
      if (e.tokenId !== undefined) {
        out.tokenIds.push(e.tokenId);
        out.tokenTexts.push(e.text);
      } else out.tokenTexts[out.tokenTexts.length - 1] += e.text;
      onToken?.(out.tokenIds.length);
    }
  }
  return out;
}

test('streams continue a prefix of token ids: greedy, in turns of a few tokens, they write what one greedy run writes', async () => {
  const [whole] = await collectCandidates(generator, { messages, n: 1, temperature: 0, maxNewTokens: 12 });
  assert.equal(whole.tokenIds.length, 12, 'the tiny model does not stop within 12 tokens');
  const streams = generator.streaming;
  assert.equal(streams.continuesPrefix, true);
  const inTurns = await readStream(streams.start({ messages, prefix: { text: '' }, temperature: 0, maxNewTokens: 12, roundTokens: 5 }, new AbortController().signal));
  assert.deepEqual(inTurns.tokenIds, whole.tokenIds);
  assert.equal(inTurns.text, whole.text);
  assert.equal(inTurns.finishReason, 'length');
  // The prefix as a search takes it: the text streamed with the first five tokens.
  const prefixText = inTurns.tokenTexts.slice(0, 5).join('');
  const rest = await readStream(
    streams.start({ messages, prefix: { text: prefixText, tokenIds: whole.tokenIds.slice(0, 5) }, temperature: 0, maxNewTokens: 7, roundTokens: 3 }, new AbortController().signal),
  );
  assert.deepEqual(rest.tokenIds, whole.tokenIds.slice(5), 'the continuation of the first five tokens');
  assert.equal(prefixText + rest.text, whole.text, 'a character split across the prefix\'s end comes out once');
});

test('a stream generates one turn ahead of its reader at most: stopped after its first turn, it generated nothing more', async () => {
  const streams = generator.streaming;
  const controller = new AbortController();
  const iterator = streams.start({ messages, prefix: { text: '' }, temperature: 1, seed: 1, maxNewTokens: 40, roundTokens: 4 }, controller.signal)[Symbol.asyncIterator]();
  let read = 0;
  while (read < 4) {
    const next = await iterator.next();
    if (!next.done && next.value.type === 'token' && next.value.tokenId !== undefined) read++;
  }
  // The worker is idle now; another stream runs to its end meanwhile.
  const other = await readStream(streams.start({ messages, prefix: { text: '' }, temperature: 1, seed: 2, maxNewTokens: 12, roundTokens: 12 }, new AbortController().signal));
  assert.ok(other.tokenIds.length > 0);
  controller.abort();
  const after: GenerationEvent[] = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) after.push(next.value);
  assert.deepEqual(after, [{ type: 'done', candidate: 0, finishReason: 'cancelled' }], 'no token was generated past the turn it read');
});
