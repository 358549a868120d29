import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalScore, rankCandidates } from '../../src/core/ranking';

test('finalScore is the last per-token value', () => {
  assert.equal(finalScore({ values: [0.2, 0.9, 0.4] }), 0.4);
  assert.ok(Number.isNaN(finalScore({ values: [] })));
});

test('rankCandidates sorts by final value, ties in input order, unscored last', () => {
  const ranked = rankCandidates([
    { id: 'a', values: [0.9, 0.3] },
    { id: 'b', values: [] },
    { id: 'c', values: [0.1, 0.8] },
    { id: 'd', values: [0.3] },
    { id: 'e', values: [0.5, 0.8] },
  ]);
  assert.deepEqual(ranked.map((c) => c.id), ['c', 'e', 'a', 'd', 'b']);
});
