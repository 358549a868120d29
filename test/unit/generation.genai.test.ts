/**
 * The local generator on the layout users download: a model built by onnxruntime-genai's
 * model builder (GroupQueryAttention, MatMulNBits, no position_ids, fp16 KV cache in q4f16),
 * through `passlens-train export-generator --builder genai`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { LocalGenerator } from '../../src/core/generation/local';
import { collectCandidates, type GenerationEvent } from '../../src/core/generation/types';
import type { LoadOptions } from '../../src/core/generation/protocol';
import { buildMessages } from '../../src/core/contracts/prompt';
import { tinyGenaiGenerator } from '../fixtures/models';

const messages = buildMessages({ question: 'Print the sum of two numbers.', kind: 'standard_input' });
let folder: string;
const generators: LocalGenerator[] = [];
const open = (model: string, dtype: LoadOptions['dtype']) => {
  const generator = new LocalGenerator({ model, dtype, offlineOnly: true });
  generators.push(generator);
  return generator;
};

before(() => {
  folder = tinyGenaiGenerator();
});

after(async () => {
  await Promise.all(generators.map((g) => g.dispose()));
});

/** A scoring pass: the same graph over prompt + tokens at once (no cache), log-softmax(logits / T) at each generated token. */
async function scoringPass(model: string, dtype: LoadOptions['dtype'], tokenIds: number[], temperature: number) {
  const lib = await import('@huggingface/transformers');
  lib.env.localModelPath = dirname(model);
  lib.env.allowRemoteModels = false;
  const tokenizer = await lib.AutoTokenizer.from_pretrained(basename(model));
  const scorer = await lib.AutoModelForCausalLM.from_pretrained(basename(model), { dtype });
  const chatTemplate = (JSON.parse(readFileSync(join(model, 'tokenizer_config.json'), 'utf8')) as { chat_template: string }).chat_template;
  const prompt = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false, chat_template: chatTemplate }) as string;
  const promptIds = Array.from(tokenizer(prompt, { add_special_tokens: false }).input_ids.data as BigInt64Array, Number);
  const ids = [...promptIds, ...tokenIds];
  const output = await scorer({
    input_ids: new lib.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
    attention_mask: new lib.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
  });
  const logits = (output.logits as InstanceType<typeof lib.Tensor>).to('float32');
  const vocab = logits.dims[2];
  const data = logits.data as Float32Array;
  const pastType = (scorer.sessions.model as unknown as { inputMetadata: Array<{ name: string; type: string }> }).inputMetadata.find((m) => m.name === 'past_key_values.0.key')?.type;
  const logprobs = tokenIds.map((token, k) => {
    const row = Array.from(data.subarray((promptIds.length - 1 + k) * vocab, (promptIds.length + k) * vocab), (v) => v / temperature);
    const max = Math.max(...row);
    return row[token] - (max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)));
  });
  await scorer.dispose();
  return { logprobs, pastType };
}

// fp32: the cached (one token at a time) and the full pass differ by float rounding only (~1e-6).
// q4f16: activations and the KV cache are fp16 (11 significant bits, ~1e-3 relative), and a
// decode step sums its attention in another order than the full pass; 2e-2 is ~5x the
// largest difference seen over these candidates, and 100x smaller than a wrong position or token.
for (const [dtype, tolerance, kvType] of [['fp32', 1e-4, 'float32'], ['q4f16', 2e-2, 'float16']] as const) {
  test(`genai ${dtype}: streams N candidates whose log-probabilities equal a scoring pass (KV cache ${kvType})`, async () => {
    const generator = open(folder, dtype);
    const events: GenerationEvent[] = [];
    const candidates = await collectCandidates(generator, { messages, n: 2, temperature: 0.7, maxNewTokens: 12, seed: 5 }, undefined, (e) => events.push(e));
    assert.deepEqual(
      events.filter((e) => e.type === 'done').map((e) => e.candidate),
      [0, 1],
    );
    assert.ok(events.findIndex((e) => e.type === 'token' && e.candidate === 0) < events.findIndex((e) => e.type === 'done'), 'tokens stream before the end');
    assert.notDeepEqual(candidates[0].tokenIds, candidates[1].tokenIds);
    for (const candidate of candidates) {
      assert.equal(candidate.tokenIds.length, candidate.logprobs.length);
      assert.deepEqual(candidate.sampling, { temperature: 0.7, topP: 1, topK: 0 });
      const reference = await scoringPass(folder, dtype, candidate.tokenIds, 0.7);
      assert.equal(reference.pastType, kvType);
      candidate.logprobs.forEach((logprob, k) =>
        assert.ok(Math.abs(logprob - reference.logprobs[k]) < tolerance, `token ${k}: ${logprob} vs ${reference.logprobs[k]}`),
      );
    }
  });
}

test('genai: generation stops at any of several end-of-sequence ids, which the text leaves out', async () => {
  const [greedy] = await collectCandidates(open(folder, 'fp32'), { messages, n: 1, temperature: 0, maxNewTokens: 8 });
  assert.equal(greedy.tokenIds.length, 8, 'the random model does not stop by itself within 8 tokens');
  const stopAt = greedy.tokenIds.findIndex((t, i) => i >= 2 && !greedy.tokenIds.slice(0, i).includes(t));
  assert.ok(stopAt >= 2, 'a token first seen at position >= 2');
  const copy = mkdtempSync(join(tmpdir(), 'passlens-eos-'));
  try {
    const model = join(copy, 'generator');
    cpSync(folder, model, { recursive: true });
    const configPath = join(model, 'generation_config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as { eos_token_id: number | number[] };
    // The stopping id second, as Phi-4-mini lists <|endoftext|> after <|end|>.
    config.eos_token_id = [[config.eos_token_id].flat()[0], greedy.tokenIds[stopAt]];
    writeFileSync(configPath, JSON.stringify(config));
    const [stopped] = await collectCandidates(open(model, 'fp32'), { messages, n: 1, temperature: 0, maxNewTokens: 8 });
    assert.equal(stopped.finishReason, 'stop');
    assert.deepEqual(stopped.tokenIds, greedy.tokenIds.slice(0, stopAt));
    assert.ok(greedy.text.startsWith(stopped.text) && stopped.text.length < greedy.text.length);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test('genai: top-p and top-k truncate (a nucleus of one token is greedy decoding at any temperature)', async () => {
  const generator = open(folder, 'q4f16');
  const [greedy] = await collectCandidates(generator, { messages, n: 1, temperature: 0, maxNewTokens: 10 });
  const free = await collectCandidates(generator, { messages, n: 3, temperature: 1.5, maxNewTokens: 10, seed: 11 });
  assert.ok(free.some((c) => c.tokenIds.join() !== greedy.tokenIds.join()), 'without truncation, T=1.5 leaves the greedy path');
  for (const setting of [{ topP: 1e-6 }, { topK: 1 }]) {
    const truncated = await collectCandidates(generator, { messages, n: 3, temperature: 1.5, maxNewTokens: 10, seed: 11, ...setting });
    for (const candidate of truncated) {
      assert.deepEqual(candidate.tokenIds, greedy.tokenIds, JSON.stringify(setting));
      // Recorded under the tempered distribution before truncation: below 0, not log(1).
      assert.ok(candidate.logprobs.every((l) => l < -1e-3), JSON.stringify(candidate.logprobs));
    }
  }
});

test('bad sampling settings are refused before anything runs', async () => {
  const generator = open(folder, 'fp32');
  await assert.rejects(collectCandidates(generator, { messages, n: 1, temperature: 1, maxNewTokens: 4, topP: 0 }), /top-p must be in \(0, 1\]/);
  await assert.rejects(collectCandidates(generator, { messages, n: 1, temperature: 1, maxNewTokens: 4, topK: 2.5 }), /top-k must be a whole number/);
});
