/**
 * The vLLM critic client against a loopback server that answers /v1/models, /tokenize
 * and /pooling in vLLM's documented shapes (vLLM itself does not run here). The server
 * tokenises with the tiny bundle's real tokenizer; its per-token "values" are a known
 * function of position and token id, so the test sees whether the client lines rows up
 * and applies a calibration.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriticError, createRemoteCritic, readCalibration } from '../../src/core/critic';
import { calibrate } from '../../src/core/contracts/calibration';
import type { Problem } from '../../src/core/problem/types';
import { DEFAULT_TEMPLATES } from '../../src/core/contracts/prompt';
import { tinyCriticBundle } from '../fixtures/models';

type Transformers = typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });
type Tokenizer = Awaited<ReturnType<Transformers['AutoTokenizer']['from_pretrained']>>;

const PROBLEM: Problem = { question: 'Print the sum of two numbers.', kind: 'standard_input' };
const MAX_MODEL_LEN = 400;
const fakeValue = (id: number, position: number) => ((id * 31 + position) % 97) / 97;

let server: Server;
let url: string;
let tokenizer: Tokenizer;
let chatTemplate: string;
let idToString: Map<number, string>;
const requests: Array<{ path: string; body: Record<string, unknown> }> = [];

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
}

before(async () => {
  const bundle = tinyCriticBundle();
  const lib: Transformers = await import('@huggingface/transformers');
  lib.env.allowRemoteModels = false;
  lib.env.localModelPath = join(bundle, '..');
  tokenizer = await lib.AutoTokenizer.from_pretrained(bundle.split('/').pop()!, { local_files_only: true });
  chatTemplate = readFileSync(join(bundle, 'chat_template.jinja'), 'utf8');
  const json = JSON.parse(readFileSync(join(bundle, 'tokenizer.json'), 'utf8'));
  idToString = new Map(Object.entries(json.model.vocab as Record<string, number>).map(([s, id]) => [id, s]));
  for (const added of json.added_tokens as Array<{ id: number; content: string }>) idToString.set(added.id, added.content);

  server = createServer(async (req, res) => {
    const body = req.method === 'POST' ? await readJson(req) : {};
    requests.push({ path: req.url ?? '', body });
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (req.url === '/v1/models') return send(200, { object: 'list', data: [{ id: 'passlens-critic', object: 'model' }] });
    if (req.url === '/tokenize') {
      const text = body.messages
        ? (tokenizer.apply_chat_template(body.messages as Array<{ role: string; content: string }>, { add_generation_prompt: true, tokenize: false, chat_template: chatTemplate }) as string)
        : (body.prompt as string);
      const tokens = tokenizer.encode(text, { add_special_tokens: false });
      return send(200, { count: tokens.length, max_model_len: MAX_MODEL_LEN, tokens, token_strs: body.return_token_strs ? tokens.map((id) => idToString.get(id)) : null });
    }
    if (req.url === '/pooling') {
      if (body.task !== 'token_classify') return send(400, { error: { message: `unsupported task ${String(body.task)}`, type: 'BadRequestError', code: 400 } });
      const inputs = body.input as number[][];
      if (inputs.some((ids) => ids.length > MAX_MODEL_LEN)) return send(400, { error: { message: 'This model\'s maximum context length is 400 tokens.', type: 'BadRequestError', code: 400 } });
      return send(200, {
        id: 'pool-1',
        object: 'list',
        created: 0,
        model: 'passlens-critic',
        data: inputs.map((ids, index) => ({ index, object: 'pooling', data: ids.map((id, pos) => [fakeValue(id, pos)]) })),
        usage: { prompt_tokens: inputs.flat().length, total_tokens: inputs.flat().length, completion_tokens: 0 },
      });
    }
    send(404, { detail: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('scores align the pooling rows with the response tokens, offsets exact', async () => {
  const critic = await createRemoteCritic({ url: `${url}/v1/` });
  assert.equal(critic.info.baseModel, 'passlens-critic');
  assert.equal(critic.info.provider, 'remote');
  requests.length = 0;
  const texts = ['print(1 + 2)\n', 'a, b = map(int, input().split())\nprint(a + b)  # 🙂 café\n', ''];
  const scored = await critic.scoreMany(PROBLEM, texts);
  const pooling = requests.find((r) => r.path === '/pooling')!;
  assert.equal(pooling.body.model, 'passlens-critic');
  assert.equal(pooling.body.task, 'token_classify');
  const chat = requests.find((r) => r.path === '/tokenize' && r.body.messages)!;
  assert.equal((chat.body.messages as Array<{ content: string }>)[0].content, DEFAULT_TEMPLATES.system);
  assert.equal(chat.body.add_generation_prompt, true);
  const promptIds = tokenizer.encode(tokenizer.apply_chat_template(chat.body.messages as Array<{ role: string; content: string }>, { add_generation_prompt: true, tokenize: false, chat_template: chatTemplate }) as string, { add_special_tokens: false });
  const inputs = pooling.body.input as number[][];
  assert.equal(inputs.length, 2, 'the empty text is not sent');
  texts.slice(0, 2).forEach((text, i) => {
    const ids = tokenizer.encode(text, { add_special_tokens: false });
    assert.deepEqual(inputs[i], [...promptIds, ...ids]);
    assert.deepEqual(scored[i].tokenIds, ids);
    assert.deepEqual(scored[i].values, ids.map((id, k) => fakeValue(id, promptIds.length + k)));
    assert.equal(scored[i].charOffsets.map(([s, e]) => text.slice(s, e)).join(''), text);
  });
  assert.deepEqual(scored[2], { tokens: [], tokenIds: [], charOffsets: [], values: [] });
  await critic.dispose();
});

test('a stream returns the changed tail and ends equal to a full score', async () => {
  const critic = await createRemoteCritic({ url, model: 'passlens-critic' });
  const stream = await critic.open(PROBLEM);
  const text = 'total = 0\nfor x in range(10):\n    total += x\nprint(total)\n';
  for (let i = 0; i < text.length; i += 4) {
    const changed = await stream.append(text.slice(i, i + 4));
    const current = stream.current();
    assert.deepEqual(changed.tokenIds, current.tokenIds.slice(current.tokenIds.length - changed.tokenIds.length));
  }
  const whole = await critic.score(PROBLEM, text);
  assert.deepEqual(stream.current(), whole);
  await stream.close();
});

test('long prompts are cut from the left; server and network errors are CriticErrors', async () => {
  const critic = await createRemoteCritic({ url, model: 'passlens-critic' });
  const longProblem: Problem = { question: 'Add the numbers. '.repeat(60), kind: 'standard_input' };
  requests.length = 0;
  const scores = await critic.score(longProblem, 'print(1)\n');
  const sent = (requests.find((r) => r.path === '/pooling')!.body.input as number[][])[0];
  assert.equal(sent.length, MAX_MODEL_LEN);
  assert.match(scores.notice ?? '', /first \d+ tokens were dropped/);
  await assert.rejects(critic.score(PROBLEM, 'x = 1\n'.repeat(300)), (e: CriticError) => e.code === 'too_long' && /at most 400/.test(e.message));

  const wrongModel = await createRemoteCritic({ url: `${url}/nope`, model: 'm' });
  await assert.rejects(wrongModel.score(PROBLEM, 'x'), (e: CriticError) => e.code === 'remote_error' && /answered 404.*Not Found/.test(e.message));
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(createRemoteCritic({ url: deadUrl }), (e: CriticError) => e instanceof CriticError && e.code === 'remote_error' && /Cannot reach the critic server.*vllm serve/.test(e.message));
});

test('a fork starts with the stream\'s text and scores and then extends on its own', async () => {
  const critic = await createRemoteCritic({ url, model: 'passlens-critic' });
  const stream = await critic.open(PROBLEM);
  await stream.append('total = 0\nfor x in range(10):\n');
  const fork = await stream.fork();
  assert.deepEqual(fork.current(), stream.current());
  await Promise.all([fork.append('    total += x\n'), stream.append('    total -= x\n')]);
  assert.deepEqual(fork.current(), await critic.score(PROBLEM, 'total = 0\nfor x in range(10):\n    total += x\n'));
  assert.deepEqual(stream.current(), await critic.score(PROBLEM, 'total = 0\nfor x in range(10):\n    total -= x\n'));
  await Promise.all([stream.close(), fork.close()]);
});

test('a served critic applies the calibration it is given (read from a calibration file or a bundle)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'passlens-calibration-'));
  try {
    const file = join(dir, 'passlens-calibration.json');
    writeFileSync(file, JSON.stringify({ method: 'platt', a: 0.5, b: 0.25, fitted_on: { rollouts: 10 } }));
    const calibration = readCalibration(file);
    assert.deepEqual(calibration, { method: 'platt', a: 0.5, b: 0.25 });
    assert.equal(readCalibration(tinyCriticBundle()), null, 'a bundle without a calibration');
    writeFileSync(file, JSON.stringify({ method: 'platt', a: -1, b: 0 }));
    assert.throws(() => readCalibration(file), (e: CriticError) => e.code === 'bad_manifest' && /a > 0/.test(e.message));
    assert.throws(() => readCalibration(join(dir, 'none.json')), (e: CriticError) => e.code === 'file_missing');

    const plain = await createRemoteCritic({ url, model: 'passlens-critic' });
    const calibrated = await createRemoteCritic({ url, model: 'passlens-critic', calibration });
    assert.deepEqual(calibrated.info.calibration, calibration);
    const text = 'print(sum(map(int, input().split())))\n';
    const raw = (await plain.score(PROBLEM, text)).values;
    const got = (await calibrated.score(PROBLEM, text)).values;
    assert.deepEqual(got, calibrate(raw, calibration));
    assert.ok(got.some((v, i) => Math.abs(v - raw[i]) > 1e-3));
    const stream = await calibrated.open(PROBLEM);
    await stream.append(text.slice(0, 10));
    await stream.append(text.slice(10));
    assert.deepEqual(stream.current().values, got);
    await stream.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
