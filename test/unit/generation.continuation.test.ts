/**
 * Continuing a response (inline suggestions): the local generator (tiny random model,
 * greedy) continues a response prefix as transformers.js does on prompt + prefix in
 * process, and ends a candidate before a stop string without ever streaming part of it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LocalGenerator } from '../../src/core/generation/local';
import { emittableLength, stopIndex } from '../../src/core/generation/stop';
import { collectCandidates } from '../../src/core/generation/types';
import { buildMessages } from '../../src/core/contracts/prompt';
import { tinyGenerator } from '../fixtures/models';

const messages = buildMessages({ question: 'Print the sum of two numbers.', kind: 'standard_input' });
let folder: string;
let generator: LocalGenerator;

before(() => {
  folder = tinyGenerator();
  generator = new LocalGenerator({ model: folder, dtype: 'fp32', offlineOnly: true });
});
after(() => generator.dispose());

test('stopIndex finds the earliest stop string; emittableLength holds back a tail that may become one', () => {
  assert.equal(stopIndex('a```b', ['```']), 1);
  assert.equal(stopIndex('ab\n\nc```', ['```', '\n\n']), 2);
  assert.equal(stopIndex('abc', ['```']), -1);
  assert.equal(emittableLength('x = 1\n``', ['```']), 6);
  assert.equal(emittableLength('x = 1\n`', ['```']), 6);
  assert.equal(emittableLength('x = `a', ['```']), 6, 'a backtick followed by text is no fence');
  assert.equal(emittableLength('x = 1', ['```']), 5);
  assert.equal(emittableLength('', ['```']), 0);
});

test('a response prefix is continued as greedy decoding after prompt + prefix does in-process', async () => {
  const responsePrefix = '```python\nx = int(input())\n';
  const [continued] = await collectCandidates(generator, { messages, n: 1, temperature: 0, maxNewTokens: 12, responsePrefix });
  const lib = await import('@huggingface/transformers');
  lib.env.localModelPath = folder.replace(/[^/]+$/, '');
  lib.env.allowRemoteModels = false;
  const name = folder.split('/').pop()!;
  const tokenizer = await lib.AutoTokenizer.from_pretrained(name);
  const model = await lib.AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32' });
  const prompt = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false, chat_template: readFileSync(`${folder}/chat_template.jinja`, 'utf8') }) as string;
  const inputs = tokenizer(prompt + responsePrefix, { add_special_tokens: false });
  const output = (await model.generate({ ...inputs, max_new_tokens: 12, do_sample: false })) as InstanceType<typeof lib.Tensor>;
  const promptLength = (inputs.input_ids as InstanceType<typeof lib.Tensor>).dims[1];
  const expected = Array.from(output.data as BigInt64Array, Number).slice(promptLength);
  assert.deepEqual(continued.tokenIds, expected.slice(0, continued.tokenIds.length));
  assert.ok(continued.tokenIds.length > 0);
  await model.dispose();
});

test('a candidate ends before a stop string, which is never streamed, and finishes "stop"', async () => {
  const [full] = await collectCandidates(generator, { messages, n: 1, temperature: 0, maxNewTokens: 24 });
  // A two-character stop string first seen in the middle of the greedy text.
  const at = [...full.text].findIndex((_, i) => i >= 3 && full.text.indexOf(full.text.slice(i, i + 2)) === i && i + 2 < full.text.length);
  assert.ok(at > 0, 'the greedy text has a fresh two-character string to stop at');
  const stop = full.text.slice(at, at + 2);
  let streamed = '';
  const [stopped] = await collectCandidates(generator, { messages, n: 2, temperature: 0, maxNewTokens: 24, stop: [stop] }, undefined, (event) => {
    if (event.type === 'token' && event.candidate === 0) streamed += event.text;
  });
  assert.equal(stopped.text, full.text.slice(0, at));
  assert.equal(streamed, stopped.text, 'no part of the stop string was streamed');
  assert.equal(stopped.finishReason, 'stop');
});
