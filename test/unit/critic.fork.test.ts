/**
 * CriticStream.fork on the local critic (tiny random bundle): forks of one scored prefix
 * extend independently, each equal to a full pass over its own text, and the prefix is not
 * run again (inline suggestions score N continuations on top of the file above the cursor).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCritic } from '../../src/core/critic';
import type { Critic, TokenScores } from '../../src/core/critic';
import type { Problem } from '../../src/core/problem/types';
import { tinyCriticBundle } from '../fixtures/models';

const PROBLEM: Problem = { question: 'Read n and print the sum of 1..n.', kind: 'standard_input' };
const PREFIX = '```python\nn = int(input())\ntotal = 0\nfor i in range(1, n + 1):\n    total += i\npri';
// The first continuation merges with the prefix's last token ("pri" + "nt"): the fork must
// re-run from the changed token, not from the end of the prefix.
const CONTINUATIONS = ['nt(total)\n', 'nt(n * (n + 1) // 2)\n', '\n'];

let critic: Critic;
before(async () => {
  critic = await loadCritic({ bundlePath: tinyCriticBundle(), executionProvider: 'cpu' });
});
after(() => critic.dispose());

function assertSameScores(actual: TokenScores, expected: TokenScores, what: string): void {
  assert.deepEqual(actual.tokenIds, expected.tokenIds, `${what}: token ids`);
  assert.deepEqual(actual.charOffsets, expected.charOffsets, `${what}: offsets`);
  const gap = Math.max(0, ...actual.values.map((v, i) => Math.abs(v - expected.values[i])));
  assert.ok(gap < 1e-4, `${what}: values differ from a full pass by ${gap}`);
}

test('forks of a scored prefix extend independently and equal full passes', async () => {
  const stream = await critic.open(PROBLEM);
  await stream.append(PREFIX);
  const prefixScores = stream.current();
  const forks = await Promise.all(CONTINUATIONS.map(() => stream.fork()));
  for (const fork of forks) assert.deepEqual(fork.current(), prefixScores, 'a fork starts with the prefix scores');
  const changed = await Promise.all(forks.map((fork, i) => fork.append(CONTINUATIONS[i])));
  for (const [i, fork] of forks.entries()) {
    assertSameScores(fork.current(), await critic.score(PROBLEM, PREFIX + CONTINUATIONS[i]), `continuation ${i}`);
    // Only the tokens from the first changed one were returned (and run).
    assert.ok(changed[i].tokenIds.length < fork.current().tokenIds.length, `continuation ${i} re-ran only its tail`);
  }
  assert.deepEqual(stream.current(), prefixScores, 'the forked stream is unchanged');
  // The original stream still extends on its own cache after its forks did.
  await stream.append('nt(0)\n');
  assertSameScores(stream.current(), await critic.score(PROBLEM, `${PREFIX}nt(0)\n`), 'the original stream after its forks');
  await Promise.all([stream, ...forks].map((s) => s.close()));
});

test('a fork sees the appends sent before it, even unanswered', async () => {
  const stream = await critic.open(PROBLEM);
  const pending = stream.append(PREFIX);
  const fork = await stream.fork();
  await pending;
  assert.deepEqual(fork.current(), stream.current());
  await fork.append(CONTINUATIONS[1]);
  assertSameScores(fork.current(), await critic.score(PROBLEM, PREFIX + CONTINUATIONS[1]), 'fork of a pending append');
  await Promise.all([stream.close(), fork.close()]);
});

test('closing a fork leaves the stream it came from usable; a closed stream cannot fork', async () => {
  const stream = await critic.open(PROBLEM);
  await stream.append(PREFIX);
  const fork = await stream.fork();
  await fork.close();
  await stream.append(CONTINUATIONS[0]);
  assertSameScores(stream.current(), await critic.score(PROBLEM, PREFIX + CONTINUATIONS[0]), 'after a fork closed');
  await stream.close();
  await assert.rejects(stream.fork(), (error: Error) => error.name === 'CriticError' && /closed/.test(error.message));
});
