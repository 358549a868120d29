/**
 * Guided search's policy with a scripted generator and critic (test/fixtures/scripted.ts):
 * which streams stop, where they re-branch, budgets, cancellation; then the same search and
 * best-of-n's token accounting with the real tiny generator and critic.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { guidedSearch, forkPosition, validatePolicy, type GuidedPolicy } from '../../src/core/generateAndRank/guided';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_GUIDED, search } from '../../src/core/generateAndRank/search';
import { streamsFrom, type StreamEvent, type StreamRequest, type StreamingGenerator } from '../../src/core/generateAndRank/streams';
import { loadCritic } from '../../src/core/critic';
import type { Critic, CriticStream } from '../../src/core/critic/types';
import { LocalGenerator } from '../../src/core/generation/local';
import { problemFromStatement } from '../../src/core/problem/extraction';
import { isAbortError } from '../../src/core/shared/abort';
import { repoRoot, tinyCriticBundle, tinyGenerator } from '../fixtures/models';
import { CharCritic, ScriptedGenerator, charValues } from '../fixtures/scripted';

const problem = problemFromStatement('Read two integers and print their sum.\n\n-----Examples-----\nInput\n2 3\n\nOutput\n5\n');
const policy = (overrides: Partial<GuidedPolicy>): GuidedPolicy => ({
  width: 2,
  interval: 2,
  pruneFraction: 0.5,
  threshold: 0,
  warmupTokens: 0,
  rebranch: true,
  window: 2,
  ...overrides,
});

test('re-branches continue the source from its least likely recent token: prefix text and ids, fewer new tokens, own seeds; pruned streams are cancelled one by one', async () => {
  const generator = new ScriptedGenerator([{ text: '9999', logprobs: [-0.1, -2, -0.5, -0.1] }, { text: '1111' }], { '9': [{ text: '8888' }], '99': [{ text: '7' }] });
  const critic = new CharCritic();
  const updates: Array<{ index: number; pruned?: number | false }> = [];
  const ranked = await guidedSearch(generator, critic, problem, { policy: policy({}), temperature: 0.7, maxNewTokens: 50, seed: 10 }, undefined, {
    onUpdate: ({ index, pruned }) => updates.push({ index, pruned }),
  });
  assert.deepEqual(
    generator.calls.map((c) => ({ prefix: c.request.prefix, maxNewTokens: c.request.maxNewTokens, seed: c.request.seed, temperature: c.request.temperature })),
    [
      { prefix: { text: '', tokenIds: [] }, maxNewTokens: 50, seed: 10, temperature: 0.7 },
      { prefix: { text: '', tokenIds: [] }, maxNewTokens: 50, seed: 11, temperature: 0.7 },
      { prefix: { text: '9', tokenIds: ['9'.charCodeAt(0)] }, maxNewTokens: 49, seed: 12, temperature: 0.7 },
      { prefix: { text: '99', tokenIds: ['9'.charCodeAt(0), '9'.charCodeAt(0)] }, maxNewTokens: 48, seed: 13, temperature: 0.7 },
    ],
  );
  assert.deepEqual(generator.calls.map((c) => c.signal.aborted), [false, true, true, false], 'only the pruned streams were cancelled');
  assert.deepEqual(ranked.map((c) => [c.index, c.finishReason, c.tokens, c.pruned]), [[0, 'stop', 4, false], [3, 'stop', 1, false], [2, 'pruned', 2, 3], [1, 'pruned', 2, 2]]);
  const total = ranked.reduce((sum, c) => sum + c.tokens, 0);
  assert.equal(total, generator.calls.reduce((sum, c) => sum + c.yielded, 0), 'tokens add up to what the generator produced: a shared prefix is counted once');
  for (const c of ranked) {
    assert.deepEqual(c.values, charValues(c.text), `candidate ${c.index} is scored over its whole text, prefix included`);
    assert.equal(c.final, charValues(c.text).at(-1));
  }
  assert.equal(critic.opened, 4);
  assert.equal(critic.closed, 4, 'every critic stream is closed');
  assert.deepEqual(updates.filter((u) => u.index === 1).map((u) => u.pruned), [false, 2], 'stream 1 reported its scores, then that it stopped at 2 tokens');
});

test('a generator that cannot continue a prefix restarts freed slots from the prompt', async () => {
  const generator = new ScriptedGenerator([{ text: '9999' }, { text: '1111' }, { text: '33' }, { text: '2' }], {}, false);
  const ranked = await guidedSearch(generator, new CharCritic(), problem, { policy: policy({}), temperature: 1, maxNewTokens: 50 });
  assert.ok(generator.calls.every((c) => c.request.prefix.text === '' && c.request.maxNewTokens === 50));
  assert.equal(generator.calls.length, 4, 'two slots were freed and refilled');
  assert.ok(ranked.every((c) => c.branch === undefined));
  // Round 1: "99" vs "11" → #1 stops, #2 starts. Round 2: "9999" vs "33" → #2 stops (pruned at 2), #3 starts, then both finish.
  assert.deepEqual(ranked.map((c) => [c.index, c.finishReason]), [[0, 'stop'], [3, 'stop'], [2, 'pruned'], [1, 'pruned']]);
});

test('tokens a stream generated after it was told to stop are counted, but are not part of its text', async () => {
  // A generator that runs ahead of the reader, like a server or a worker: two more tokens arrive after the cancel.
  const aheadBy = 2;
  const generator: StreamingGenerator = {
    name: 'runs ahead',
    continuesPrefix: true,
    start(request: StreamRequest, signal: AbortSignal): AsyncIterable<StreamEvent> {
      const text = request.seed === 0 ? '99999999' : '11111111';
      return (async function* () {
        let afterCancel = 0;
        for (const ch of text) {
          if (signal.aborted && ++afterCancel > aheadBy) break;
          yield { type: 'token', candidate: 0, text: ch, tokenId: 1, logprob: -1 } as const;
        }
        yield { type: 'done', candidate: 0, finishReason: signal.aborted ? 'cancelled' : 'stop' } as const;
      })();
    },
  };
  const ranked = await guidedSearch(generator, new CharCritic(), problem, { policy: policy({ rebranch: false }), temperature: 1, maxNewTokens: 50, seed: 0 });
  const pruned = ranked.find((c) => c.index === 1)!;
  assert.equal(pruned.pruned, 2);
  assert.equal(pruned.text, '11');
  assert.equal(pruned.tokens, 2 + aheadBy);
});

test('the token budget caps the whole search and re-branching stops with it', async () => {
  // Re-branches fork from the best stream ("999…") and continue with 5s; position 0 takes a fresh root.
  const roots = ['9', '8', '7', ...'5555555'].map((d) => ({ text: d.repeat(40) }));
  const continuations: Record<string, Array<{ text: string }>> = {};
  for (let p = 1; p <= 40; p++) continuations['9'.repeat(p)] = Array.from({ length: 8 }, () => ({ text: '5'.repeat(40) }));
  const generator = new ScriptedGenerator(roots, continuations);
  const ranked = await guidedSearch(generator, new CharCritic(), problem, {
    policy: policy({ width: 3, interval: 4, pruneFraction: 0.34, window: 8 }),
    temperature: 1,
    maxNewTokens: 40,
    tokenBudget: 50,
  });
  assert.equal(ranked.reduce((sum, c) => sum + c.tokens, 0), 50, 'exactly the budget was generated');
  assert.ok(ranked.some((c) => c.finishReason === 'budget'));
  assert.ok(ranked.some((c) => c.branch !== undefined), 're-branched while the budget lasted');
  assert.ok(generator.calls.every((c) => c.signal.aborted || c.yielded === c.request.maxNewTokens), 'streams still running at the budget were cancelled');
});

test('the wall-clock budget stops slow streams and returns what they wrote', async () => {
  const generator = new ScriptedGenerator([{ text: '9'.repeat(10_000) }, { text: '8'.repeat(10_000) }], {}, true, 2);
  const started = Date.now();
  const ranked = await guidedSearch(generator, new CharCritic(), problem, { policy: policy({ pruneFraction: 0 }), temperature: 1, maxNewTokens: 10_000, wallClockMs: 150 });
  assert.ok(Date.now() - started < 5000, 'returned soon after the deadline');
  assert.deepEqual(ranked.map((c) => c.finishReason), ['budget', 'budget']);
  assert.ok(ranked.every((c) => c.tokens > 0 && c.tokens < 10_000 && c.text.length === c.tokens));
  assert.ok(generator.calls.every((c) => c.signal.aborted));
});

test('cancelling the search rejects with AbortError, cancels every stream and closes every critic stream', async () => {
  const generator = new ScriptedGenerator([{ text: '9'.repeat(500) }, { text: '8'.repeat(500) }], {}, true, 1);
  const critic = new CharCritic();
  const controller = new AbortController();
  await assert.rejects(
    guidedSearch(generator, critic, problem, { policy: policy({ pruneFraction: 0 }), temperature: 1, maxNewTokens: 500 }, controller.signal, {
      onUpdate: () => controller.abort(),
    }),
    (error: unknown) => isAbortError(error),
  );
  assert.ok(generator.calls.every((c) => c.signal.aborted && c.yielded < 500));
  assert.equal(critic.closed, critic.opened);
});

test('policies with impossible knobs are refused with the knob named', () => {
  assert.throws(() => validatePolicy(policy({ pruneFraction: 1 })), /pruneFraction must be in \[0, 1\)/);
  assert.throws(() => validatePolicy(policy({ interval: 0 })), /interval must be an integer >= 1/);
  assert.throws(() => validatePolicy(policy({ threshold: 2 })), /threshold must be in \[0, 1\]/);
});

test('without log-probabilities a re-branch forks where the critic\'s value fell most; taken positions are skipped', () => {
  const text = 'abcdef';
  const critic = { current: () => ({ tokens: [], tokenIds: [], charOffsets: [...text].map((_, i) => [i, i + 1] as [number, number]), values: [0.9, 0.9, 0.8, 0.2, 0.3, 0.25] }) } as unknown as CriticStream;
  const tokens = [...text].map((_, i) => ({ start: i }));
  assert.equal(forkPosition({ tokens, forkedAt: new Set(), critic }, 4), 3);
  assert.equal(forkPosition({ tokens, forkedAt: new Set([3]), critic }, 4), 2, 'next largest fall in the window (0.9 → 0.8)');
  const withLogprobs = tokens.map((t, i) => ({ ...t, logprob: [-1, -5, -0.2, -0.3, -0.4, -0.3][i] }));
  assert.equal(forkPosition({ tokens: withLogprobs, forkedAt: new Set(), critic }, 4), 4, 'least likely in the last 4 (the -5 is older)');
  assert.equal(forkPosition({ tokens: withLogprobs.slice(0, 2), forkedAt: new Set([0, 1]) }, 4), undefined);
});

let critic: Critic;
let generator: LocalGenerator;
before(async () => {
  critic = await loadCritic({ bundlePath: tinyCriticBundle(), executionProvider: 'cpu' });
  generator = new LocalGenerator({ model: tinyGenerator(), dtype: 'fp32', offlineOnly: true });
});
after(async () => {
  await generator.dispose();
  await critic.dispose();
});

test('guided search on the real tiny models: prunes in turns, re-branches from the best stream\'s prefix, scores each candidate exactly as a full pass', async () => {
  const ranked = await search(generator, critic, problem, {
    strategy: 'guided',
    n: 3,
    temperature: 1,
    maxNewTokens: 12,
    seed: 3,
    guided: { interval: 4, pruneFraction: 0.34, warmupTokens: 0, rebranch: true, window: 4 },
  });
  const pruned = ranked.filter((c) => c.pruned !== false);
  assert.ok(pruned.length >= 1, 'a round stopped a stream');
  const branches = ranked.filter((c) => c.branch !== undefined);
  assert.equal(branches.length, pruned.length, 'every freed slot re-branched (the tiny model writes past 12 tokens)');
  // The worker generates a turn of `interval` tokens per stream as the search reads them: a
  // pruned stream spent exactly what it kept.
  for (const c of pruned) assert.equal(c.tokens, (c.pruned as number) - (c.branch?.at ?? 0));
  for (const c of branches) {
    const source = ranked.find((s) => s.index === c.branch!.from)!;
    assert.ok(c.branch!.at < 12 && c.tokens <= 12 - c.branch!.at, 'a re-branch writes what its prefix left');
    let shared = 0;
    while (shared < c.text.length && c.text[shared] === source.text[shared]) shared++;
    if (c.branch!.at > 0) assert.ok(shared > 0, `re-branch #${c.index} continues #${source.index}'s text`);
  }
  for (const c of ranked) {
    const full = await critic.score(problem, c.text);
    assert.equal(c.values.length, full.values.length);
    c.values.forEach((v, k) => assert.ok(Math.abs(v - full.values[k]) < 1e-4));
  }
});

test('best-of-n candidates carry the tokens generated for them, and a token budget stops the rest', async () => {
  const free = await search(generator, critic, problem, { strategy: 'best-of-n', n: 3, temperature: 1, maxNewTokens: 12, seed: 3 });
  assert.ok(free.every((c) => c.pruned === false && c.tokens > 0 && c.tokens <= 12 && c.finishReason !== 'budget'));
  const capped = await search(generator, critic, problem, { strategy: 'best-of-n', n: 3, temperature: 1, maxNewTokens: 12, seed: 3, tokenBudget: 14 });
  const spent = capped.reduce((sum, c) => sum + c.tokens, 0);
  assert.ok(spent >= 14 && spent < free.reduce((sum, c) => sum + c.tokens, 0), `spent ${spent}`);
  assert.ok(capped.some((c) => c.finishReason === 'budget'));
  const finishedFirst = capped.findIndex((c) => c.finishReason === 'budget');
  assert.ok(capped.slice(finishedFirst).every((c) => c.finishReason === 'budget'), 'stopped candidates rank after finished ones');
});

test('streamsFrom refuses a prefix it cannot continue', () => {
  const streams = streamsFrom(generator);
  assert.equal(streams.continuesPrefix, false);
  assert.throws(() => streams.start({ messages: [], prefix: { text: 'x' }, temperature: 1, maxNewTokens: 4 }, new AbortController().signal), /cannot continue a prefix/);
});

test('the editor settings declare the same guided defaults as the core', () => {
  const properties = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { default: unknown }> } } }).contributes.configuration.properties;
  for (const [knob, value] of Object.entries(DEFAULT_GUIDED)) assert.equal(properties[`passlens.search.guided.${knob}`]?.default, value, knob);
  assert.equal(properties['passlens.search.strategy'].default, 'best-of-n');
});
