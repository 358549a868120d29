import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadCritic } from '../../src/core/critic';
import type { Critic } from '../../src/core/critic/types';
import { DocumentScorer, codeAsResponse } from '../../src/core/confidence/documentScoring';
import { lineConfidences } from '../../src/core/confidence/lineConfidence';
import type { Problem } from '../../src/core/problem/types';
import { tinyCriticBundle } from '../fixtures/models';

let critic: Critic;
const problem: Problem = { question: 'Read n and print n squared.', kind: 'standard_input' };

before(async () => {
  critic = await loadCritic({ bundlePath: tinyCriticBundle(), executionProvider: 'cpu' });
});
after(() => critic.dispose());

const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-4);

/** Line confidences equal up to float noise: the KV-cache pass and a full pass differ in the last bits. */
function assertLinesClose(actual: unknown, expected: unknown, path = 'lines'): void {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', path);
    assert.ok(Math.abs((actual as number) - expected) < 1e-4, `${path}: ${String(actual)} vs ${expected}`);
  } else if (expected && typeof expected === 'object') {
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), path);
    for (const [key, value] of Object.entries(expected)) assertLinesClose((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
  } else {
    assert.equal(actual, expected, path);
  }
}

test('appending code is scored incrementally and matches a full rescoring', async () => {
  const scorer = new DocumentScorer(critic, problem);
  const first = await scorer.score('n = int(input())\n');
  assert.equal(first.incremental, false);
  const second = await scorer.score('n = int(input())\nprint(n * n)\n');
  assert.equal(second.incremental, true);
  const full = await critic.score(problem, codeAsResponse(second.code).text);
  assert.ok(close(second.scores.values, full.values), 'KV-cache scores equal a full pass');
  assertLinesClose(second.lines, lineConfidences(full, second.code, second.codeStart));
  assert.deepEqual(second.lines.map((l) => l.line), [0, 1]);
  assert.ok(Math.abs(second.final - full.values[full.values.length - 1]) < 1e-4);
  await scorer.dispose();
});

test('an edit in the middle rescores in full; incremental: false always does', async () => {
  const scorer = new DocumentScorer(critic, problem);
  await scorer.score('a = 1\nb = 2\n');
  const edited = await scorer.score('a = 3\nb = 2\n');
  assert.equal(edited.incremental, false);
  assert.ok(close(edited.scores.values, (await critic.score(problem, codeAsResponse('a = 3\nb = 2\n').text)).values));
  const baseline = new DocumentScorer(critic, problem, { incremental: false });
  await baseline.score('a = 1\n');
  assert.equal((await baseline.score('a = 1\nb = 2\n')).incremental, false);
  await Promise.all([scorer.dispose(), baseline.dispose()]);
});

test('a cancelled score rejects with AbortError and the next one starts clean', async () => {
  const scorer = new DocumentScorer(critic, problem);
  await scorer.score('x = 1\n');
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(scorer.score('x = 1\ny = 2\n', controller.signal), (e: Error) => e.name === 'AbortError');
  const after = await scorer.score('x = 1\ny = 2\n');
  assert.equal(after.incremental, false, 'the interrupted stream was dropped');
  assert.ok(close(after.scores.values, (await critic.score(problem, codeAsResponse('x = 1\ny = 2\n').text)).values));
  await scorer.dispose();
});
