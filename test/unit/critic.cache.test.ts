/**
 * The critic's key/value cache kept in buffers onnxruntime reads in place (kvCache.ts): cuts
 * that cost nothing, appends that write only the new tokens, forks of a prompt's cache that
 * copy on first write. Every stream path is checked against a full pass (engine.score), and
 * bundles in the older `present` graph layout against PyTorch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CriticEngine } from '../../src/core/critic/engine';
import { KvCache } from '../../src/core/critic/kvCache';
import { loadCritic } from '../../src/core/critic';
import type { Problem } from '../../src/core/problem/types';
import type { TokenScores } from '../../src/core/critic';
import { buildMessages } from '../../src/core/contracts/prompt';
import { criticReferences, tinyCriticBundle, tinyPresentLayoutCriticBundle } from '../fixtures/models';

const PROBLEM: Problem = { question: 'Read n numbers and print their sum.', kind: 'standard_input' };
const OTHER: Problem = { question: 'Return the indices of two numbers adding up to target.', kind: 'call_based', starterCode: 'class Solution:\n    def twoSum(self, nums, target):' };
const CODE = 'def solve(nums):\n\ttotal = 0\n    for x in nums:  # café naïve 你好 🙂\n        total += x\n    return total\n';

/** A stream over the engine, merging each append's changed tail the way LocalCriticStream does. */
class EngineStream {
  scored: TokenScores = { tokens: [], tokenIds: [], charOffsets: [], values: [] };
  text = '';
  private constructor(
    private readonly engine: CriticEngine,
    private readonly id: number,
  ) {}

  static async open(engine: CriticEngine, problem: Problem): Promise<EngineStream> {
    return new EngineStream(engine, await engine.open(problem));
  }

  async append(chunk: string): Promise<number> {
    const { from, scores } = await this.engine.append(this.id, chunk);
    this.text += chunk;
    this.scored = {
      tokens: this.scored.tokens.slice(0, from).concat(scores.tokens),
      tokenIds: this.scored.tokenIds.slice(0, from).concat(scores.tokenIds),
      charOffsets: this.scored.charOffsets.slice(0, from).concat(scores.charOffsets),
      values: this.scored.values.slice(0, from).concat(scores.values),
    };
    return from;
  }

  close(): void {
    this.engine.close(this.id);
  }
}

function maxGap(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length, 'same number of values');
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i])));
}

async function assertEqualsFullPass(engine: CriticEngine, problem: Problem, stream: EngineStream, what: string): Promise<void> {
  const full = await engine.score(problem, stream.text);
  assert.deepEqual(stream.scored.tokenIds, full.tokenIds, `${what}: token ids`);
  assert.deepEqual(stream.scored.charOffsets, full.charOffsets, `${what}: offsets`);
  const gap = maxGap(stream.scored.values, full.values);
  assert.ok(gap <= 1e-6, `${what}: values differ from a full pass by ${gap}`);
}

let engine: CriticEngine;

before(async () => {
  engine = await CriticEngine.load({ bundlePath: tinyCriticBundle(), executionProvider: 'cpu' });
});

after(async () => {
  await engine?.dispose();
});

describe('KvCache', () => {
  const shape = { layers: 1, heads: 2, headDim: 3 };
  /** [1, heads, length, headDim] outputs whose values encode (head, position, dim). */
  const outputs = (from: number, count: number) =>
    [0, 1].map(() => Float32Array.from({ length: 2 * count * 3 }, (_, i) => Math.floor(i / (count * 3)) * 1000 + (from + Math.floor((i % (count * 3)) / 3)) * 10 + (i % 3)));
  const live = (cache: KvCache) =>
    cache.past.map((t) => [0, 1].flatMap((h) => Array.from(t.subarray(h * cache.capacity * 3, h * cache.capacity * 3 + cache.length * 3))));

  test('a cut only moves the length; an append writes the new positions after it; growth keeps the live ones', () => {
    const cache = KvCache.fromOutputs(shape, outputs(0, 4), 4);
    assert.equal(cache.capacity, 4);
    cache.truncate(2);
    cache.append(outputs(2, 3), 3, 3, 2048);
    assert.equal(cache.length, 5);
    assert.equal(cache.capacity, 256, 'grows to whole blocks');
    assert.deepEqual(live(cache), live(KvCache.fromOutputs(shape, outputs(0, 5), 5)));
    // Outputs in the `present` layout (past + new): the last `count` positions are the new ones.
    cache.truncate(4);
    cache.append(outputs(0, 6), 6, 2, 2048);
    assert.deepEqual(live(cache), live(KvCache.fromOutputs(shape, outputs(0, 6), 6)));
    assert.throws(() => cache.truncate(7), RangeError);
  });

  test('a fork copies on its first write and leaves the original as it was', () => {
    const prompt = KvCache.fromOutputs(shape, outputs(0, 3), 3);
    const before = live(prompt);
    const fork = prompt.fork();
    assert.equal(fork.past[0], prompt.past[0], 'shares the buffers until it writes');
    fork.truncate(1);
    fork.append(outputs(1, 1).map((t) => t.map((v) => -v)), 1, 1, 2048);
    assert.notEqual(fork.past[0], prompt.past[0]);
    assert.deepEqual(live(prompt), before);
    assert.equal(prompt.length, 3);
  });
});

describe('streams on the in-place cache', () => {
  test('an append that re-tokenises the tail (a cut), then more appends, equals a full pass at every step', async () => {
    const stream = await EngineStream.open(engine, PROBLEM);
    // Each chunk ends inside a word or an emoji, so the next one merges into the last token(s).
    const chunks = ['def sol', 've(nu', 'ms):\n\tto', 'tal = 0  # caf', 'é 🙂', '🙂\n', '    return tot', 'al\n'];
    let cuts = 0;
    for (const chunk of chunks) {
      const before = stream.scored.tokenIds.length;
      const from = await stream.append(chunk);
      if (from < before) cuts++;
      await assertEqualsFullPass(engine, PROBLEM, stream, `after ${JSON.stringify(stream.text)}`);
    }
    assert.ok(cuts >= 3, `the chunks should change earlier tokens (cuts: ${cuts})`);
    stream.close();
  });

  test('many one-character appends grow the cache past its first block and equal a full pass', async () => {
    const stream = await EngineStream.open(engine, PROBLEM);
    const text = CODE.repeat(5);
    for (let i = 0; i < text.length; i++) {
      await stream.append(text[i]);
      if (i % 97 === 0) await assertEqualsFullPass(engine, PROBLEM, stream, `after ${i + 1} characters`);
    }
    await assertEqualsFullPass(engine, PROBLEM, stream, 'whole text');
    const promptTokens = engine.encodeText(engine.promptText(PROBLEM)).ids.length;
    assert.ok(promptTokens + stream.scored.tokenIds.length > 256, 'the text outgrows the first 256-position block');
    stream.close();
  });

  test('two streams appended in turn, on one problem and on two, each equal a full pass; the prompts stay intact', async () => {
    const firstBefore = await engine.score(PROBLEM, CODE);
    const streams = [await EngineStream.open(engine, PROBLEM), await EngineStream.open(engine, PROBLEM), await EngineStream.open(engine, OTHER)];
    const texts = [CODE, `n = int(input())\nprint(sum(map(int, input().split())))\n${CODE}`, `seen = {}\n${CODE}`];
    for (let i = 0; i < 60; i++) {
      for (let s = 0; s < streams.length; s++) {
        const piece = texts[s].slice(i * 3, i * 3 + 3);
        if (piece) await streams[s].append(piece);
      }
    }
    await assertEqualsFullPass(engine, PROBLEM, streams[0], 'first stream');
    await assertEqualsFullPass(engine, PROBLEM, streams[1], 'second stream, same problem');
    await assertEqualsFullPass(engine, OTHER, streams[2], 'third stream, other problem');
    assert.deepEqual((await engine.score(PROBLEM, CODE)).values, firstBefore.values, 'the shared prompt cache was not written to');
    streams.forEach((s) => s.close());
  });

  test('closing a stream frees its cache; dispose frees the rest', async () => {
    const own = await CriticEngine.load({ bundlePath: tinyCriticBundle(), executionProvider: 'cpu' });
    try {
      const a = await EngineStream.open(own, PROBLEM);
      const b = await EngineStream.open(own, PROBLEM);
      const promptOnly = own.cacheStats();
      assert.deepEqual([promptOnly.prompts, promptOnly.streams], [1, 2]);
      assert.ok(promptOnly.kvBytes > 0, 'the prompt cache is held');
      await a.append(CODE);
      await b.append(CODE.repeat(2));
      const both = own.cacheStats();
      assert.ok(both.kvBytes > promptOnly.kvBytes, 'streams that wrote hold their own buffers');
      b.close();
      const one = own.cacheStats();
      assert.equal(one.streams, 1);
      assert.ok(one.kvBytes < both.kvBytes && one.kvBytes > promptOnly.kvBytes);
      a.close();
      assert.deepEqual(own.cacheStats(), { prompts: 1, streams: 0, kvBytes: promptOnly.kvBytes });
    } finally {
      await own.dispose();
    }
    assert.deepEqual(own.cacheStats(), { prompts: 0, streams: 0, kvBytes: 0 });
  });
});

describe('bundles in the older `present` graph layout', () => {
  test('score equal PyTorch and a stream equals a full pass', async () => {
    const bundle = tinyPresentLayoutCriticBundle();
    const critic = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu' });
    try {
      const texts = [CODE, 'x = 1\n'];
      const [ref] = criticReferences(bundle, [{ messages: buildMessages(PROBLEM, critic.info.templates), texts }]);
      for (let i = 0; i < texts.length; i++) {
        const scores = await critic.score(PROBLEM, texts[i]);
        assert.deepEqual(scores.tokenIds, ref.text_ids[i]);
        assert.ok(maxGap(scores.values, ref.values[i]) < 1e-4, `text ${i} differs from PyTorch`);
      }
      const stream = await critic.open(PROBLEM);
      for (let i = 0; i < CODE.length; i += 4) await stream.append(CODE.slice(i, i + 4));
      const full = await critic.score(PROBLEM, CODE);
      assert.deepEqual(stream.current().tokenIds, full.tokenIds);
      assert.ok(maxGap(stream.current().values, full.values) <= 1e-6);
      await stream.close();
    } finally {
      await critic.dispose();
    }
  });
});
