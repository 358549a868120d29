import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confidenceBucket, lineConfidences, lineOf, lineStarts, sparkline } from '../../src/core/confidence/lineConfidence';
import type { TokenScores } from '../../src/core/critic/types';
import { codeAsResponse } from '../../src/core/confidence/documentScoring';

/** Token scores over `text` cut at the given token boundaries, with the given values. */
function scoresOf(text: string, pieces: string[], values: number[]): TokenScores {
  assert.equal(pieces.join(''), text);
  let offset = 0;
  const charOffsets = pieces.map((p): [number, number] => [offset, (offset += p.length)]);
  return { tokens: pieces, tokenIds: pieces.map((_, i) => i), charOffsets, values };
}

test('lineStarts and lineOf agree on every offset', () => {
  const code = 'ab\n\ncd\n';
  const starts = lineStarts(code);
  assert.deepEqual(starts, [0, 3, 4, 7]);
  assert.deepEqual([...code].map((_, i) => lineOf(starts, i)), [0, 0, 0, 1, 2, 2, 2]);
});

test('each line gets the value after its last token, the biggest drop and a trend', () => {
  const code = 'n = int(input())\nprint(n * 2)\n\nprint(x)\n';
  const { text, codeStart } = codeAsResponse(code);
  const pieces = ['```python\n', 'n', ' =', ' int(input())', '\n', 'print', '(n * 2)\n', '\n', 'print', '(x)', '\n'];
  const values = [0.5, 0.55, 0.6, 0.7, 0.72, 0.7, 0.71, 0.71, 0.6, 0.2, 0.25];
  const lines = lineConfidences(scoresOf(text, pieces, values), code, codeStart);
  assert.deepEqual(lines.map((l) => l.line), [0, 1, 3], 'the blank line gets no entry even with a token of its own');
  const [first, second, fourth] = lines;
  assert.equal(first.value, 0.72);
  assert.equal(first.trend, 'rising');
  assert.ok(Math.abs(first.delta - 0.22) < 1e-9, 'delta is measured from the fence token');
  assert.equal(first.biggestDrop, undefined);
  assert.equal(second.value, 0.71);
  assert.equal(second.trend, 'steady');
  assert.equal(second.biggestDrop?.token, 'print');
  assert.equal(fourth.value, 0.25);
  assert.equal(fourth.min, 0.2);
  assert.equal(fourth.trend, 'falling');
  assert.ok(Math.abs(fourth.delta - (0.25 - 0.71)) < 1e-9, 'measured from the blank line\'s token value');
  assert.equal(fourth.biggestDrop?.token, '(x)');
  assert.equal(code.slice(fourth.biggestDrop!.start, fourth.biggestDrop!.end), '(x)');
});

test('a token that crosses a line break belongs to the line it finishes', () => {
  const code = 'a\nbc';
  const pieces = ['a\nb', 'c'];
  const lines = lineConfidences(scoresOf(code, pieces, [0.9, 0.1]), code, 0);
  assert.deepEqual(lines.map((l) => [l.line, l.value]), [[1, 0.1]]);
});

test('confidenceBucket spans red to green and clamps', () => {
  assert.deepEqual([0, 0.19, 0.2, 0.5, 0.99, 1, 1.5, Number.NaN].map((v) => confidenceBucket(v)), [0, 0, 1, 2, 4, 4, 4, 0]);
});

test('sparkline averages the curve into at most width characters', () => {
  assert.equal(sparkline([0, 1]), '▁█');
  assert.equal(sparkline([0, 0, 1, 1], 2), '▁█');
  assert.equal(sparkline(Array(100).fill(0.5), 10).length, 10);
  assert.equal(sparkline([]), '');
});
