import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logSumExp, truncateLogits } from '../../src/core/generation/sampling';

const probs = (logits: Float32Array) => {
  const lse = logSumExp(logits);
  return Array.from(logits, (v) => Math.exp(v - lse));
};
// Probabilities 0.5, 0.2, 0.15, 0.1, 0.05 in shuffled positions.
const base = () => Float32Array.from([0.1, 0.5, 0.05, 0.2, 0.15].map(Math.log));

test('top-p keeps the most probable tokens until their mass first reaches p', () => {
  for (const [topP, kept] of [[0.5, [1]], [0.51, [1, 3]], [0.7, [1, 3]], [0.71, [1, 3, 4]], [0.95, [0, 1, 3, 4]], [1, [0, 1, 2, 3, 4]]] as const) {
    const logits = base();
    assert.equal(truncateLogits(logits, 0, topP), kept.length, `p=${topP}`);
    assert.deepEqual(
      [...logits.keys()].filter((i) => logits[i] !== -Infinity),
      kept,
      `p=${topP}`,
    );
  }
});

test('top-k runs first, and top-p then reads the renormalised top-k mass', () => {
  const logits = base();
  // top-3 keeps 0.5, 0.2, 0.15 (renormalised 0.588, 0.235, 0.176); p=0.8 needs two of them.
  truncateLogits(logits, 3, 0.8);
  assert.deepEqual([...logits.keys()].filter((i) => logits[i] !== -Infinity), [1, 3]);
  const p = probs(logits);
  assert.ok(Math.abs(p[1] - 0.5 / 0.7) < 1e-6 && Math.abs(p[3] - 0.2 / 0.7) < 1e-6);
});

test('a large vocabulary with a long flat tail: the nucleus is exact without sorting the tail', () => {
  const size = 200_064;
  const logits = new Float32Array(size).fill(0);
  logits[7] = 12;
  logits[99_999] = 11;
  const lse = logSumExp(logits);
  const head = Math.exp(12 - lse) + Math.exp(11 - lse);
  const copy = Float32Array.from(logits);
  assert.equal(truncateLogits(copy, 0, head - 1e-4), 2);
  // Past the two heads, the tail tokens are equal: one more is needed, and it is a tail token.
  assert.equal(truncateLogits(Float32Array.from(logits), 0, head + 1e-6), 3);
});

test('at least one token always stays', () => {
  const logits = base();
  assert.equal(truncateLogits(logits, 1, 1e-9), 1);
  assert.equal(logits[1], Math.fround(Math.log(0.5)));
});
