/** What the candidates panel shows of a candidate: order, diff against the file, verdict. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cardVerdict, diffLines, orderCards, type CandidateCard } from '../../src/core/generateAndRank/candidateCards';

const card = (key: string, final: number): CandidateCard => ({ key, label: key, code: '', final, values: [], state: Number.isNaN(final) ? 'generating' : 'scored', verdict: { label: 'not run', kind: 'notRun' }, diff: [] });

test('cards come best first by their ranking value; unscored ones after, in their given order', () => {
  const ordered = orderCards([card('a', 0.2), card('b', Number.NaN), card('c', 0.9), card('d', Number.NaN), card('e', 0.2)]);
  assert.deepEqual(ordered.map((c) => c.key), ['c', 'a', 'e', 'b', 'd']);
});

test('the diff shows the inserted lines with two lines of context and a hunk header', () => {
  const current = 'a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\n';
  const after = 'a = 1\nb = 2\nc = 3\nx = 0\nd = 4\ne = 5\nf = 6\n';
  assert.deepEqual(diffLines(current, after), [
    { kind: 'hunk', text: '@@ -2,4 +2,5 @@' },
    { kind: 'context', text: 'b = 2' },
    { kind: 'context', text: 'c = 3' },
    { kind: 'add', text: 'x = 0' },
    { kind: 'context', text: 'd = 4' },
    { kind: 'context', text: 'e = 5' },
  ]);
  assert.deepEqual(diffLines(current, current), [], 'no change, no lines');
  const filled = diffLines('', 'print(1)\n');
  assert.deepEqual(filled.filter((l) => l.kind !== 'hunk'), [{ kind: 'add', text: 'print(1)' }]);
  const replaced = diffLines('x = 1', 'x = 2');
  assert.deepEqual(replaced.filter((l) => l.kind !== 'hunk').map((l) => l.kind), ['remove', 'add'], 'a missing final newline is no line of its own');
});

test('a verdict says passed or how it failed, and why there is none', () => {
  const passed = { id: '1', passed: true, results: [true], verdicts: ['pass' as const], seconds: 0.1, isolation: 'bwrap' as const, weak_isolation: false, stderr: '' };
  const failed = { ...passed, passed: false, results: [true, false] as Array<true | false>, verdicts: ['pass' as const, 'wrong_answer' as const] };
  assert.deepEqual(cardVerdict(passed, undefined), { label: 'passes 1 example', kind: 'pass' });
  assert.deepEqual(cardVerdict(failed, undefined), { label: 'wrong answer (1/2)', kind: 'fail' });
  assert.deepEqual(cardVerdict({ ...passed, isolation: 'weak', weak_isolation: true }, undefined), { label: 'passes 1 example [weak isolation]', kind: 'pass' }, 'a weak verdict says so');
  assert.deepEqual(cardVerdict({ id: null, error: 'line 1: bad request' }, undefined), { label: 'error: line 1: bad request', kind: 'error' });
  assert.deepEqual(cardVerdict(undefined, 'untrusted workspace'), { label: 'not run: untrusted workspace', kind: 'notRun' });
});
