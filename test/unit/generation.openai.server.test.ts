/**
 * OpenAIGenerator against a real OpenAI-compatible server nobody here wrote: llama.cpp
 * through llama-cpp-python's server (built by scripts/setup.sh), serving a GGUF conversion
 * of a tiny Phi-3 (passlens_training.export.gguf) on loopback, with --interrupt_requests false
 * (by default it drops a request when another arrives). Its real format: `n` is
 * ignored (one choice per request), completions stream `token_logprobs`, streamed chat
 * carries no logprobs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { OpenAIGenerator } from '../../src/core/generation/openai';
import { collectCandidates, type GenerationEvent } from '../../src/core/generation/types';
import { buildMessages } from '../../src/core/contracts/prompt';
import { repoRoot, tinyGgufGenerator, venvPython } from '../fixtures/models';

const installed = spawnSync(venvPython, ['-c', 'import llama_cpp.server'], { cwd: repoRoot }).status === 0;
const skip = installed
  ? false
  : "llama-cpp-python[server] is not installed: scripts/setup.sh builds it (see .cache/llama-cpp-python/*/build.log if its build failed)";
const messages = buildMessages({ question: 'Print the sum of two numbers.', kind: 'standard_input' });
const servers: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Starts llama-cpp-python's server on a free port; resolves with its /v1 URL once it answers. */
async function startServer(): Promise<{ url: string; process: ChildProcess }> {
  const { gguf } = tinyGgufGenerator();
  const port = await freePort();
  const child = spawn(venvPython, ['-m', 'llama_cpp.server', '--model', gguf, '--host', '127.0.0.1', '--port', String(port), '--logits_all', 'true', '--n_ctx', '512', '--interrupt_requests', 'false'], {
    cwd: repoRoot,
    stdio: 'ignore',
  });
  servers.push(child);
  const url = `http://127.0.0.1:${port}/v1`;
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) throw new Error(`llama-cpp-python's server exited (${child.exitCode})`);
    try {
      if ((await fetch(`${url}/models`)).ok) return { url, process: child };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error("llama-cpp-python's server did not answer within 120 s");
}

let url: string;
before(async () => {
  if (!skip) url = (await startServer()).url;
});

after(() => {
  for (const server of servers) server.kill('SIGKILL');
});

test('completions: streams N candidates with the server\'s log-probabilities; n is ignored, so the rest are topped up', { skip }, async () => {
  const generator = new OpenAIGenerator({ baseUrl: url, model: 'tiny', api: 'completions', candidates: 'auto' });
  const events: GenerationEvent[] = [];
  const candidates = await collectCandidates(generator, { messages, n: 3, temperature: 1, maxNewTokens: 12, seed: 3 }, undefined, (e) => events.push(e));
  assert.equal(candidates.length, 3);
  for (const candidate of candidates) {
    assert.ok(['stop', 'length'].includes(candidate.finishReason), candidate.finishReason);
    assert.ok(candidate.text.length > 0);
    const tokens = events.filter((e) => e.type === 'token' && e.candidate === candidate.index).length;
    assert.equal(candidate.logprobs.length, tokens, 'one token_logprobs entry per streamed token');
    assert.ok(candidate.logprobs.every((l) => l <= 0 && Number.isFinite(l)));
  }
  assert.ok(new Set(candidates.map((c) => c.text)).size > 1, 'seed + i per topped-up request: different candidates');
  assert.deepEqual(await generator.listModels(), [tinyGgufGenerator().gguf]);
});

test('chat: the server applies the GGUF\'s chat template and streams deltas (its streamed chat has no logprobs)', { skip }, async () => {
  const generator = new OpenAIGenerator({ baseUrl: url, model: 'tiny', api: 'chat', candidates: 'parallel' });
  const candidates = await collectCandidates(generator, { messages, n: 2, temperature: 0, maxNewTokens: 10 });
  assert.equal(candidates[0].text, candidates[1].text, 'greedy: the same text twice');
  assert.ok(candidates[0].text.length > 0);
  assert.deepEqual(candidates[0].logprobs, []);
  const completions = new OpenAIGenerator({ baseUrl: url, model: 'tiny', api: 'completions', candidates: 'parallel' });
  const [viaCompletions] = await collectCandidates(completions, { messages, n: 1, temperature: 0, maxNewTokens: 10 });
  assert.equal(viaCompletions.text, candidates[0].text, 'the Phi prompt we render for completions equals the server\'s chat template');
});

test('cancelling mid-stream ends every candidate as cancelled, and the server serves the next request', { skip }, async () => {
  const generator = new OpenAIGenerator({ baseUrl: url, model: 'tiny', api: 'completions', candidates: 'n' });
  const controller = new AbortController();
  const candidates = await collectCandidates(generator, { messages, n: 2, temperature: 1, maxNewTokens: 400 }, controller.signal, (e) => {
    if (e.type === 'token') controller.abort();
  });
  assert.deepEqual(candidates.map((c) => c.finishReason), ['cancelled', 'cancelled']);
  const [next] = await collectCandidates(generator, { messages, n: 1, temperature: 0, maxNewTokens: 4 });
  assert.ok(['stop', 'length'].includes(next.finishReason));
});

test('a server that dies mid-stream is a clear error', { skip }, async () => {
  const doomed = await startServer();
  const generator = new OpenAIGenerator({ baseUrl: doomed.url, model: 'tiny', api: 'completions', candidates: 'n' });
  let killed = false;
  await assert.rejects(
    collectCandidates(generator, { messages, n: 1, temperature: 1, maxNewTokens: 480 }, undefined, (e) => {
      if (e.type === 'token' && !killed) {
        killed = true;
        doomed.process.kill('SIGKILL');
      }
    }),
    (e: Error) => e.name === 'GeneratorServerError' && /broke off the stream mid-generation|closed the stream before finishing/.test(e.message) && e.message.includes(doomed.url),
  );
  assert.ok(killed, 'the server streamed a token before it was killed');
});

test('completions streams continue a prefix: greedy from the first four tokens\' text, the server writes the rest of its own greedy answer', { skip }, async () => {
  const generator = new OpenAIGenerator({ baseUrl: url, model: 'tiny', api: 'completions', candidates: 'parallel' });
  const tokenTexts: string[] = [];
  const [whole] = await collectCandidates(generator, { messages, n: 1, temperature: 0, maxNewTokens: 16 }, undefined, (e) => {
    if (e.type === 'token') tokenTexts.push(e.text);
  });
  assert.equal(tokenTexts.length, 16, 'one event per token');
  const prefix = tokenTexts.slice(0, 4).join('');
  let rest = '';
  let finish = '';
  for await (const e of generator.streaming.start({ messages, prefix: { text: prefix }, temperature: 0, maxNewTokens: 12 }, new AbortController().signal)) {
    if (e.type === 'token') rest += e.text;
    else finish = e.finishReason;
  }
  assert.equal(prefix + rest, whole.text);
  assert.equal(finish, whole.finishReason);
});
