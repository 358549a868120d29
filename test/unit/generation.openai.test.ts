import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAIGenerator, readServerSentEvents } from '../../src/core/generation/openai';
import { collectCandidates, type GenerationEvent } from '../../src/core/generation/types';
import { buildMessages } from '../../src/core/contracts/prompt';

/**
 * A real loopback server speaking the OpenAI streaming protocol. Behaviour per request:
 * `honourN` false acts like servers that ignore `n`; the text of each choice is derived
 * from the request so the test can tell candidates apart.
 */
let server: Server;
let baseUrl: string;
const requests: Array<{ path: string; body: Record<string, unknown>; auth?: string }> = [];
let honourN = true;
let mode: 'ok' | 'malformed' | 'slow' = 'ok';

function sse(res: ServerResponse, events: unknown[]) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const event of events) res.write(`data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`);
  res.end('data: [DONE]\n\n');
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
  const auth = req.headers.authorization;
  const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  requests.push({ path: req.url!, body, auth });
  if (auth !== 'Bearer good-key') {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}');
    return;
  }
  if (req.url === '/v1/models') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[{"id":"tiny"}]}');
    return;
  }
  if (mode === 'malformed') {
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {not json\n\n');
    return;
  }
  if (mode === 'slow') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' } }] })}\n\n`);
    return; // never finishes; the client must cancel
  }
  const n = honourN ? Number(body.n ?? 1) : 1;
  const chat = req.url === '/v1/chat/completions';
  const events: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const words = [`cand${i}-${requests.length}`, ' print(1)'];
    words.forEach((word, k) =>
      events.push({
        choices: [
          chat
            ? { index: i, delta: { content: word }, logprobs: { content: [{ token: word, logprob: -0.5 * (k + 1) }] }, finish_reason: null }
            : { index: i, text: word, logprobs: { tokens: [word], token_logprobs: [-0.25] }, finish_reason: null },
        ],
      }),
    );
    events.push({ choices: [{ index: i, ...(chat ? { delta: {} } : { text: '' }), finish_reason: i === 0 ? 'stop' : 'length' }] });
  }
  sse(res, events);
}

before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const request = { messages: buildMessages({ question: 'Print 1.', kind: 'standard_input' }), n: 3, temperature: 0.7, maxNewTokens: 32 };

test('chat streaming with n: three candidates, tokens and logprobs, one request', async () => {
  requests.length = 0;
  honourN = true;
  mode = 'ok';
  const generator = new OpenAIGenerator({ baseUrl: baseUrl + '/', model: 'tiny', api: 'chat', apiKey: 'good-key', candidates: 'auto' });
  const events: GenerationEvent[] = [];
  const candidates = await collectCandidates(generator, request, undefined, (e) => events.push(e));
  assert.equal(requests.length, 1);
  assert.equal(requests[0].body.n, 3);
  assert.equal(requests[0].body.stream, true);
  assert.deepEqual(requests[0].body.messages, request.messages);
  assert.deepEqual(candidates.map((c) => c.text), ['cand0-1 print(1)', 'cand1-1 print(1)', 'cand2-1 print(1)']);
  assert.deepEqual(candidates.map((c) => c.finishReason), ['stop', 'length', 'length']);
  assert.deepEqual(candidates[0].logprobs, [-0.5, -1]);
  assert.ok(events.findIndex((e) => e.type === 'token') < events.findIndex((e) => e.type === 'done'), 'tokens stream before the end');
});

test('a server that ignores n is topped up with parallel requests', async () => {
  requests.length = 0;
  honourN = false;
  const generator = new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'chat', apiKey: 'good-key' });
  const candidates = await collectCandidates(generator, request);
  assert.equal(requests.length, 3, 'one n=3 request, then two single ones');
  assert.deepEqual(requests.slice(1).map((r) => r.body.n), [1, 1]);
  assert.equal(new Set(candidates.map((c) => c.text)).size, 3, 'three distinct candidates');
  assert.ok(candidates.every((c) => c.text.endsWith(' print(1)') && c.finishReason === 'stop'));
});

test('completions API sends a Phi-formatted prompt and reads text choices', async () => {
  requests.length = 0;
  honourN = true;
  const generator = new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'completions', apiKey: 'good-key', candidates: 'parallel' });
  const candidates = await collectCandidates(generator, { ...request, n: 2 });
  assert.equal(requests.length, 2);
  assert.ok(requests.every((r) => r.path === '/v1/completions' && String(r.body.prompt).endsWith('<|assistant|>')));
  assert.deepEqual(candidates.map((c) => c.logprobs), [[-0.25, -0.25], [-0.25, -0.25]]);
});

test('streams through the completions API continue a prefix: the rendered prompt plus the prefix text; chat streams cannot', async () => {
  requests.length = 0;
  honourN = true;
  mode = 'ok';
  const completions = new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'completions', apiKey: 'good-key' }).streaming;
  assert.equal(completions.continuesPrefix, true);
  const events: GenerationEvent[] = [];
  for await (const e of completions.start({ messages: request.messages, prefix: { text: 'def f():\n' }, temperature: 1, maxNewTokens: 9, seed: 4 }, new AbortController().signal)) events.push(e);
  assert.equal(requests.length, 1);
  assert.ok(String(requests[0].body.prompt).endsWith('<|assistant|>def f():\n'), String(requests[0].body.prompt));
  assert.deepEqual([requests[0].body.n, requests[0].body.max_tokens, requests[0].body.seed], [1, 9, 4]);
  assert.deepEqual(events.map((e) => (e.type === 'token' ? e.text : e.finishReason)), ['cand0-1', ' print(1)', 'stop']);
  const chat = new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'chat', apiKey: 'good-key' }).streaming;
  assert.equal(chat.continuesPrefix, false);
  assert.throws(() => chat.start({ messages: request.messages, prefix: { text: 'x' }, temperature: 1, maxNewTokens: 4 }, new AbortController().signal), /use the completions API/);
});

test('listModels validates URL and key', async () => {
  assert.deepEqual(await new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'chat', apiKey: 'good-key' }).listModels(), ['tiny']);
});

test('a refused key gives a 401 error that says how to fix it', async () => {
  const generator = new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'chat', apiKey: 'wrong' });
  await assert.rejects(collectCandidates(generator, request), (e: Error) => /refused the API key \(HTTP 401\)/.test(e.message) && /Select Generator/.test(e.message));
});

test('an unreachable server is named in the error', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const generator = new OpenAIGenerator({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'tiny', api: 'chat' });
  await assert.rejects(collectCandidates(generator, request), (e: Error) => e.message.includes(`Cannot reach the generator server at http://127.0.0.1:${port}/v1`) && /ECONNREFUSED/.test(e.message));
});

test('a malformed stream is reported as not OpenAI-compatible', async () => {
  mode = 'malformed';
  const generator = new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'chat', apiKey: 'good-key', candidates: 'n' });
  await assert.rejects(collectCandidates(generator, request), /does not speak the OpenAI API: stream event is not JSON/);
  mode = 'ok';
});

test('cancelling mid-stream ends every candidate as cancelled', async () => {
  mode = 'slow';
  const generator = new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'chat', apiKey: 'good-key', candidates: 'n' });
  const controller = new AbortController();
  const candidates = await collectCandidates(generator, request, controller.signal, (e) => {
    if (e.type === 'token') controller.abort();
  });
  assert.deepEqual(candidates.map((c) => c.finishReason), ['cancelled', 'cancelled', 'cancelled']);
  assert.equal(candidates[0].text, 'x');
  mode = 'ok';
});

test('readServerSentEvents joins multi-line data, skips comments and handles CRLF and split chunks', async () => {
  const chunks = [': comment\r\ndata: a\r\nda', 'ta: b\r\n\r\nevent: x\ndata: c\n\ndata: tail'];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  const seen: string[] = [];
  for await (const data of readServerSentEvents(body)) seen.push(data);
  assert.deepEqual(seen, ['a\nb', 'c', 'tail']);
});

test('a response prefix, stop strings and a suffix reach the server in each API\'s fields', async () => {
  requests.length = 0;
  honourN = true;
  const continuation = { ...request, n: 1, responsePrefix: '```python\nx = ', stop: ['```'], suffix: 'print(x)\n' };
  await collectCandidates(new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'completions', apiKey: 'good-key' }), continuation);
  await collectCandidates(new OpenAIGenerator({ baseUrl, model: 'tiny', api: 'chat', apiKey: 'good-key' }), continuation);
  const [completions, chat] = requests.map((r) => r.body);
  assert.ok(String(completions.prompt).endsWith('<|assistant|>```python\nx = '), 'the prompt ends with the response prefix');
  assert.equal(completions.suffix, 'print(x)\n');
  assert.deepEqual(completions.stop, ['```']);
  const messages = chat.messages as Array<{ role: string; content: string }>;
  assert.deepEqual(messages.at(-1), { role: 'assistant', content: '```python\nx = ' });
  assert.equal(chat.continue_final_message, true);
  assert.equal(chat.add_generation_prompt, false);
  assert.deepEqual(chat.stop, ['```']);
  assert.equal(chat.suffix, undefined, 'the chat API has no suffix');
});
