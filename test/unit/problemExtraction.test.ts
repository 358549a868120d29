import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  docstringEndingAt,
  functionNameOf,
  parseExamples,
  parsePythonLiteral,
  problemFromMarkdown,
  problemFromStatement,
  statementAboveLine,
  topOfFileStatement,
} from '../../src/core/problem/extraction';

const apps = join(__dirname, '..', '..', '..', 'shared', 'apps-sample', 'problems.jsonl');

test('topOfFileStatement reads a module docstring after shebang and encoding lines', () => {
  const file = '#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n\n"""\n    Sum the numbers.\n      Indented detail.\n"""\nimport sys\n';
  assert.equal(topOfFileStatement(file), 'Sum the numbers.\n  Indented detail.');
  assert.equal(topOfFileStatement("'''One line.'''\nx = 1"), 'One line.');
});

test('topOfFileStatement reads a leading comment block, and nothing from plain code', () => {
  assert.equal(topOfFileStatement('# Read n.\n# Print n squared.\nn = int(input())\n'), 'Read n.\nPrint n squared.');
  assert.equal(topOfFileStatement('x = 1\n# late comment\n'), undefined);
  assert.equal(topOfFileStatement(''), undefined);
});

test('statementAboveLine finds the comment block or docstring above the cursor', () => {
  const file = ['import sys', '', '# Return the larger', '# of a and b.', '', 'def larger(a, b):', '    """Docstring', '    more."""', '    '].join('\n');
  assert.equal(statementAboveLine(file, 5), 'Return the larger\nof a and b.');
  assert.equal(statementAboveLine(file, 8), 'Docstring\nmore.');
  assert.equal(statementAboveLine(file, 6), 'Docstring\nmore.', 'inside the docstring');
  assert.equal(statementAboveLine(file, 1), undefined);
  assert.equal(docstringEndingAt(file, 6), 7);
  assert.equal(docstringEndingAt(file, 7), 7);
  assert.equal(docstringEndingAt(file, 5), undefined);
});

test('problemFromMarkdown drops the title, takes a python block as starter code', () => {
  const problem = problemFromMarkdown('# Two sum\nFind indices.\n\n```python\nclass Solution:\n    def twoSum(self, nums, target):\n        pass\n```\n\nExample 1:\nInput: nums = [2,7], target = 9\nOutput: [0,1]\n');
  assert.equal(problem.kind, 'call_based');
  assert.match(problem.starterCode!, /def twoSum/);
  assert.doesNotMatch(problem.question, /Two sum|```/);
  // An expected list is stored wrapped, as APPS stores it (see callTests in extraction.ts).
  assert.deepEqual(problem.tests, { inputs: [[[2, 7], 9]], outputs: [[[0, 1]]], fn_name: 'twoSum' });
});

test('functionNameOf reads class Solution methods and top-level defs', () => {
  assert.equal(functionNameOf('class Solution:\n    def maxArea(self, h):\n'), 'maxArea');
  assert.equal(functionNameOf('def solve(a, b):\n    pass'), 'solve');
  assert.equal(functionNameOf('x = 1'), undefined);
});

test('parsePythonLiteral handles Python spellings and rejects expressions', () => {
  assert.deepEqual(parsePythonLiteral("[(1, 'a,b'), {'k': None}, True, -2.5, \"q\\\"\"]"), [[1, 'a,b'], { k: null }, true, -2.5, 'q"']);
  assert.deepEqual(parsePythonLiteral('[1, 2,]'), [1, 2]);
  assert.throws(() => parsePythonLiteral('foo(3)'));
});

test('parsePythonLiteral reads escapes and numbers as Python does, and refuses what JSON cannot hold', () => {
  assert.equal(parsePythonLiteral(String.raw`'\x41\u00e9\U0001F600\101\0\a\d'`), 'A\u00e9\u{1F600}A\0\x07\\d');
  assert.deepEqual(parsePythonLiteral('[1e-5, 2.5E3, .5, 3., 1_000, 0, 0.0, -7]'), [1e-5, 2500, 0.5, 3, 1000, 0, 0, -7]);
  assert.equal(parsePythonLiteral(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  for (const bad of ['12345678901234567890', '1e400', '0x10', '1j', '012', '{1, 2}', "{1: 'a'}", "b'x'", "r'x'", String.raw`'\N{DASH}'`, "'a\nb'", 'float("inf")']) {
    assert.throws(() => parsePythonLiteral(bad), `${bad} is refused`);
  }
});

test('call-based examples: an expected non-empty list is stored wrapped, duplicates and examples APPS would alter are dropped', () => {
  const statement = [
    'Input: nums = [1,2]', 'Output: [2,1]',
    'Input: nums = [3]', 'Output: 3',
    'Input: nums = []', 'Output: []',
    'Input: nums = [1,2]', 'Output: [2,1]',
    "Input: d = {'1': 2}, k = 1", 'Output: 2',
    'Input: d = {}, k = 1', 'Output: 0',
    "Input: d = {'a': 2}, k = 1", "Output: {'10': 1}",
    "Input: d = {'a': 2}, k = 2", "Output: {'b': 1}",
  ].join('\n');
  assert.deepEqual(parseExamples(statement, 'f'), {
    inputs: [[[1, 2]], [[3]], [[]], [{ a: 2 }, 2]],
    outputs: [[[2, 1]], 3, [], { b: 1 }],
    fn_name: 'f',
  });
});

test('stdin examples: Input/Output blocks, several of them, notes excluded', () => {
  const statement = 'Do it.\n\n-----Examples-----\nInput\n3\n1 2 3\n\nOutput\n6\n\nInput\n1\n5\n\nOutput\n5\n\n-----Note-----\nIn the first example 1+2+3.';
  assert.deepEqual(parseExamples(statement), { inputs: ['3\n1 2 3\n', '1\n5\n'], outputs: ['6\n', '5\n'] });
  assert.equal(parseExamples('No examples at all.'), undefined);
  const sample = problemFromStatement('Sample Input:\n```\n2 3\n```\nSample Output:\n```\n5\n```\n');
  assert.deepEqual(sample.tests, { inputs: ['2 3\n'], outputs: ['5\n'] });
  assert.equal(sample.kind, 'standard_input');
});

/** Equal as the judge's APPS comparison counts expected values: `x` and `[x]` alike. */
function sameExpected(a: unknown, b: unknown): boolean {
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  return same(a, b) || same(a, [b]) || same([a], b);
}

test('examples parsed from real APPS statements match the problems\' own tests', { skip: !existsSync(apps) && 'shared/apps-sample not beside the repo' }, () => {
  const normalize = (s: unknown) => String(s).trim().split(/\s+/).join(' ');
  let checked = 0;
  let withExamples = 0;
  for (const line of readFileSync(apps, 'utf8').split('\n').filter(Boolean)) {
    const record = JSON.parse(line) as { question: string; starter_code?: string; input_output: { inputs: unknown[]; outputs: unknown[]; fn_name?: string } };
    const problem = problemFromStatement(record.question, record.starter_code);
    const io = record.input_output;
    assert.equal(problem.kind === 'call_based', Boolean(record.starter_code?.trim()), 'kind follows the starter code');
    // A few APPS records name a function but give no starter code; their examples are not comparable.
    if (!problem.tests || Boolean(io.fn_name) !== (problem.kind === 'call_based')) continue;
    withExamples++;
    // Each parsed example must be one of the problem's real tests, with its real output.
    problem.tests.inputs.forEach((input, i) => {
      const index = io.inputs.findIndex((real) => (io.fn_name ? JSON.stringify(real) === JSON.stringify(input) : normalize(real) === normalize(input)));
      if (index === -1) return;
      checked++;
      const expected = io.outputs[index];
      if (io.fn_name) assert.ok(sameExpected(problem.tests!.outputs[i], expected), `${JSON.stringify(problem.tests!.outputs[i])} vs ${JSON.stringify(expected)}`);
      else assert.equal(normalize(problem.tests!.outputs[i]), normalize(expected));
    });
  }
  assert.ok(withExamples >= 40, `examples found in ${withExamples} of 81 statements`);
  assert.ok(checked >= 30, `only ${checked} parsed examples matched a real test`);
});
