import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateAndRank, judgeCandidates, rankGiven, verdictLabel } from '../../src/core/generateAndRank/bestOfN';
import { loadCritic } from '../../src/core/critic';
import type { Critic } from '../../src/core/critic/types';
import { LocalGenerator } from '../../src/core/generation/local';
import { collectCandidates } from '../../src/core/generation/types';
import { buildMessages, DEFAULT_TEMPLATES } from '../../src/core/contracts';
import { meanLogprob } from '../../src/core/generateAndRank/ranking';
import { problemFromStatement } from '../../src/core/problem/extraction';
import { SandboxClient } from '../../src/core/sandbox';
import { join } from 'node:path';
import { repoRoot, tinyCriticBundle, tinyGenerator } from '../fixtures/models';

let critic: Critic;
let generator: LocalGenerator;
const problem = problemFromStatement('Read two integers and print their sum.\n\n-----Examples-----\nInput\n2 3\n\nOutput\n5\n');

before(async () => {
  critic = await loadCritic({ bundlePath: tinyCriticBundle(), executionProvider: 'cpu' });
  generator = new LocalGenerator({ model: tinyGenerator(), dtype: 'fp32', offlineOnly: true });
});
after(async () => {
  await generator.dispose();
  await critic.dispose();
});

test('generateAndRank returns N candidates best first, scored while streaming exactly as a full pass', async () => {
  const updates = new Set<number>();
  const ranked = await generateAndRank(generator, critic, problem, { n: 3, temperature: 1, maxNewTokens: 12, seed: 5 }, undefined, {
    onUpdate: ({ index }) => updates.add(index),
  });
  assert.equal(ranked.length, 3);
  assert.deepEqual([...updates].sort(), [0, 1, 2], 'each candidate reported scores while it streamed');
  for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].final >= ranked[i].final, 'sorted by final p(pass)');
  assert.ok(ranked.every((c) => c.rankedBy === 'critic'));
  for (const candidate of ranked) {
    const full = await critic.score(problem, candidate.text);
    assert.equal(candidate.values.length, full.values.length);
    candidate.values.forEach((v, k) => assert.ok(Math.abs(v - full.values[k]) < 1e-4));
  }
});

test('rankGiven and judgeCandidates: the correct program passes the examples, the wrong one does not', async () => {
  const right = 'Sum them.\n```python\na, b = map(int, input().split())\nprint(a + b)\n```';
  const wrong = 'Multiply.\n```python\na, b = map(int, input().split())\nprint(a * b)\n```';
  const ranked = await rankGiven(critic, problem, [wrong, right]);
  assert.deepEqual(ranked.map((c) => c.index).sort(), [0, 1]);
  assert.equal(ranked.find((c) => c.index === 1)!.code, 'a, b = map(int, input().split())\nprint(a + b)\n');
  const sandbox = new SandboxClient({ pythonPath: 'python3', judgePath: join(repoRoot, 'python-sandbox', 'judge.py'), trusted: true });
  try {
    await judgeCandidates(sandbox, problem, ranked, { timeoutSeconds: 4, memoryMb: 512 });
  } finally {
    await sandbox.dispose();
  }
  const byIndex = (i: number) => ranked.find((c) => c.index === i)!;
  assert.equal(verdictLabel(byIndex(1).judged), 'passes 1 example');
  assert.match(verdictLabel(byIndex(0).judged), /^wrong answer \(0\/1\)$/);
  assert.equal(verdictLabel(undefined), 'not run');
});

test('without a critic, candidates are ranked by the generator\'s mean token log-probability, labelled as likelihood', async () => {
  const options = { n: 4, temperature: 1, maxNewTokens: 12, seed: 9 };
  const updates: number[] = [];
  const ranked = await generateAndRank(generator, undefined, problem, options, undefined, {
    onUpdate: ({ meanLogprob: m, values }) => {
      assert.deepEqual(values, [], 'no critic values');
      assert.equal(typeof m, 'number');
      updates.push(m!);
    },
  });
  assert.equal(ranked.length, 4);
  assert.ok(updates.length > 0);
  // The same request sampled again (same seed) gives the same texts and log-probabilities.
  const again = await collectCandidates(generator, { messages: buildMessages(problem, DEFAULT_TEMPLATES), ...options });
  for (const candidate of ranked) {
    assert.equal(candidate.rankedBy, 'likelihood');
    assert.deepEqual(candidate.values, []);
    const same = again[candidate.index];
    assert.equal(candidate.text, same.text);
    assert.ok(candidate.logprobs.every((l) => l <= 0));
    // A candidate that ended at once (end token first) has no streamed tokens: no likelihood.
    assert.equal(candidate.logprobs.length > 0, candidate.text.length > 0);
    if (candidate.logprobs.length) assert.equal(candidate.final, meanLogprob(same.logprobs));
    else assert.ok(Number.isNaN(candidate.final));
  }
  assert.ok(ranked.some((c) => c.logprobs.length > 0));
  const known = ranked.filter((c) => !Number.isNaN(c.final));
  assert.deepEqual(ranked.slice(0, known.length), known, 'candidates without a likelihood come last');
  for (let i = 1; i < known.length; i++) assert.ok(known[i - 1].final >= known[i].final, 'most likely first');
});

test('meanLogprob skips unknown values and is NaN without any', () => {
  assert.equal(meanLogprob([-1, -2, Number.NaN, -3]), -2);
  assert.ok(Number.isNaN(meanLogprob([])));
});
