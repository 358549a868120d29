import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalScore, rankCandidates } from '../../src/core/generateAndRank/ranking';

test('finalScore is the value at the ranking index: the last token that is not special', () => {
  assert.equal(finalScore({ tokenIds: [7, 8, 9], values: [0.2, 0.9, 0.4] }), 0.4);
  assert.equal(finalScore({ tokenIds: [7, 8, 2], values: [0.2, 0.9, 0.4] }, [2]), 0.9, 'an end-of-sequence token is skipped');
  assert.ok(Number.isNaN(finalScore({ tokenIds: [], values: [] })));
});

test('rankCandidates sorts by final value, ties in input order, unscored last', () => {
  const ranked = rankCandidates([
    { id: 'a', final: 0.3 },
    { id: 'b', final: Number.NaN },
    { id: 'c', final: 0.8 },
    { id: 'd', final: 0.3 },
    { id: 'e', final: 0.8 },
  ]);
  assert.deepEqual(ranked.map((c) => c.id), ['c', 'e', 'a', 'd', 'b']);
});
