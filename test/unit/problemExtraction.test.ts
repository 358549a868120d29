import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  docstringEndingAt,
  functionNameOf,
  parseDoctestExamples,
  parseExamples,
  parsePythonLiteral,
  problemFromMarkdown,
  problemFromStatement,
  statementAboveLine,
  topOfFileStatement,
} from '../../src/core/problem/extraction';
import { SandboxClient, defaultJudgePath, type JudgeResponse, type JudgeVerdict } from '../../src/core/sandbox';
import { HUMANEVAL_DOCTEST_PROBLEMS, type HumanEvalProblem } from '../fixtures/humaneval';

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

// ---------------------------------------------------------------- doctest examples

/** Three double quotes, written apart so this file's strings stay simple. */
const QQQ = '"' + '"' + '"';

test('doctests in the starter code\'s docstring become call-based tests: multi-line outputs, no output as None', () => {
  const starter = [
    'def add(x: int, y: int):',
    `    ${QQQ}Add two numbers x and y`,
    '    >>> add(2, 3)',
    '    5',
    '    >>> add(5, 7)',
    '    12',
    '    >>> add([1, 2],',
    '    ... [3])',
    '    [1, 2, 3]',
    '    >>> add([[1, 2],',
    '    ...      [3]], [])',
    '    >>> add([[1, 2]], [[3, 4],',
    '    ...                [5, 6]])',
    '    >>> add(["a,b"], [(1, 2)])',
    "    ['a,b',",
    '     [1, 2]]',
    '    >>> add(None, None)',
    '',
    '    >>> add()',
    "    'nothing'",
    "    >>> add('x', 'y')",
    `    'xy'${QQQ}`,
  ].join('\n');
  const problem = problemFromStatement('Add two numbers.', starter);
  assert.equal(problem.kind, 'call_based');
  assert.deepEqual(problem.tests, {
    inputs: [[2, 3], [5, 7], [['a,b'], [[1, 2]]], [null, null], [], ['x', 'y']],
    outputs: [5, 12, [['a,b', [1, 2]]], null, 'nothing', 'xy'],
    fn_name: 'add',
  });
  // Windows line endings read the same.
  assert.deepEqual(problemFromStatement('Add two numbers.', starter.replace(/\n/g, '\r\n')).tests, problem.tests);
  // The brief's own example, from a problem.md whose python block is the starter code.
  const markdown = `# Add\nAdd two numbers.\n\n\`\`\`python\ndef add(x: int, y: int):\n    ${QQQ}Add two numbers x and y\n    >>> add(2, 3)\n    5\n    >>> add(5, 7)\n    12\n    ${QQQ}\n\`\`\`\n`;
  assert.deepEqual(problemFromMarkdown(markdown).tests, { inputs: [[2, 3], [5, 7]], outputs: [5, 12], fn_name: 'add' });
});

test('doctests that are not literal positional calls of the problem\'s function are skipped', () => {
  const docstring = [
    '>>> helper(1)', '1',
    '>>> round(f(1.234), 2)', '1.23',
    '>>> f(1) == 2', '',
    '>>> f(1) + 1', '3',
    '>>> x = f(1)', '',
    '>>> print(f(1))', '2',
    '>>> ff(1)', '2',
    '>>> f(1, k=2)', '3',
    '>>> f(*[1])', '2',
    '>>> f(1,', '... 2)', '3',
    '>>> f(1)  # doctest: +SKIP', '2',
    '>>> f(x)', '2',
    ">>> f('boom')", 'Traceback (most recent call last):', 'ValueError: boom',
    '>>> f(2)', 'Point(x=1, y=2)',
    '>>> f(3)', '[1, 2, ...]',
    '>>> f(4)', 'hello world',
    '>>> f(5)', '{1, 2}',
    '>>>f(6)', '6',
    '>>> f(7)', '7',
  ].join('\n');
  assert.deepEqual(parseDoctestExamples(docstring, 'f'), { inputs: [[7]], outputs: [7], fn_name: 'f' });
  assert.equal(parseDoctestExamples('>>> g(1)\n1', 'f'), undefined);
  // Keyword arguments are not passed as such: the judge calls fn(*inputs) (compare.apps_call_args, worker._call_test).
  assert.equal(parseExamples('>>> f(a=1, b=2)\n3', 'f'), undefined);
});

test('doctest and LeetCode examples merge in order without duplicates; Solution().method calls count; stdin problems unchanged', () => {
  const statement = [
    'Return the two indices.',
    '',
    'Example 1:',
    'Input: nums = [2,7], target = 9',
    'Output: [0,1]',
    '',
    '```',
    '>>> Solution().twoSum([3, 3], 6)',
    '[0, 1]',
    '```',
    '>>> twoSum([2, 7], 9)',
    '[0, 1]',
  ].join('\n');
  const starter = `class Solution:\n    def twoSum(self, nums, target):\n        ${QQQ}\n        >>> Solution().twoSum([3, 2, 4], 6)\n        [1, 2]\n        >>> Solution().twoSum([3, 3], 6)\n        [0, 1]\n        ${QQQ}\n`;
  assert.deepEqual(problemFromStatement(statement, starter).tests, {
    inputs: [[[2, 7], 9], [[3, 3], 6], [[3, 2, 4], 6]],
    outputs: [[[0, 1]], [[0, 1]], [[1, 2]]],
    fn_name: 'twoSum',
  });
  assert.deepEqual(parseExamples(statement, 'twoSum')?.inputs, [[[2, 7], 9], [[3, 3], 6]]);
  // Without starter code the problem reads standard input: doctests are not its examples.
  const stdin = problemFromStatement('Print the sum.\n>>> add(2, 3)\n5\n\n-----Examples-----\nInput\n2 3\n\nOutput\n5\n');
  assert.equal(stdin.kind, 'standard_input');
  assert.deepEqual(stdin.tests, { inputs: ['2 3\n'], outputs: ['5\n'] });
});

/** The tests a HumanEval prompt's doctests give, as the problem's starter code. */
const humanEvalTests = (problem: HumanEvalProblem) => problemFromStatement('Complete the function.', problem.prompt).tests;
const humanEval = (id: string) => HUMANEVAL_DOCTEST_PROBLEMS.find((p) => p.task_id === id)!;

test('real HumanEval prompts: their doctests become the expected tests', () => {
  assert.deepEqual(humanEvalTests(humanEval('HumanEval/0')), {
    inputs: [[[1, 2, 3], 0.5], [[1, 2.8, 3, 4, 5, 2], 0.3]],
    outputs: [false, true],
    fn_name: 'has_close_elements',
  });
  assert.deepEqual(humanEvalTests(humanEval('HumanEval/2')), { inputs: [[3.5]], outputs: [0.5], fn_name: 'truncate_number' });
  assert.deepEqual(humanEvalTests(humanEval('HumanEval/5')), {
    inputs: [[[], 4], [[1, 2, 3], 4]],
    outputs: [[], [[1, 4, 2, 4, 3]]],
    fn_name: 'intersperse',
  });
  assert.deepEqual(humanEvalTests(humanEval('HumanEval/12')), {
    inputs: [[[]], [['a', 'b', 'c']], [['a', 'bb', 'ccc']]],
    outputs: [null, 'a', 'ccc'],
    fn_name: 'longest',
  });
  for (const problem of HUMANEVAL_DOCTEST_PROBLEMS) assert.equal(functionNameOf(problem.prompt), problem.entry_point);
});

test('real sandbox: HumanEval doctest tests pass the canonical solution and fail wrong ones', async () => {
  const repo = resolve(__dirname, '..', '..');
  const venvPython = join(repo, '.venv', 'bin', 'python');
  const sandbox = new SandboxClient({
    pythonPath: existsSync(venvPython) ? venvPython : 'python3',
    judgePath: defaultJudgePath(join(repo, 'src', 'core', 'sandbox')),
    workers: 1,
    trusted: true,
    defaultTimeoutS: 5,
    allowWeakIsolation: true,
  });
  // [task, code of the function body or a whole module, the verdicts it must get]
  const body = (id: string, code: string) => humanEval(id).prompt + code;
  const cases: Array<[string, string, string[]]> = [
    ...HUMANEVAL_DOCTEST_PROBLEMS.map((p): [string, string, string[]] => [p.task_id, body(p.task_id, p.canonical_solution), humanEvalTests(p)!.inputs.map(() => 'pass')]),
    // A bool: the negation fails. 0 and 1 pass for False and True: the judge compares with ==.
    ['HumanEval/0', body('HumanEval/0', '    return not any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n'), ['wrong_answer', 'wrong_answer']],
    ['HumanEval/0', body('HumanEval/0', '    return int(any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:]))\n'), ['pass', 'pass']],
    // A float compares exactly.
    ['HumanEval/2', body('HumanEval/2', '    return number % 1.0 + 1e-12\n'), ['wrong_answer']],
    // A list: only its first item, or the list reversed, fails (stored bare, [1, 4, 2, 4, 3]
    // would let 1 pass); a tuple passes (APPS compares tuples as lists).
    ['HumanEval/5', body('HumanEval/5', '    out = [x for n in numbers for x in (n, delimeter)][:-1]\n    return out[0] if out else out\n'), ['pass', 'wrong_answer']],
    ['HumanEval/5', body('HumanEval/5', '    return [x for n in numbers for x in (n, delimeter)][:-1][::-1]\n'), ['pass', 'wrong_answer']],
    ['HumanEval/5', body('HumanEval/5', '    return tuple([x for n in numbers for x in (n, delimeter)][:-1])\n'), ['pass', 'pass']],
    // A string: the shortest, or the string inside a list, fails; '' for the empty list is not None.
    ['HumanEval/12', body('HumanEval/12', '    return min(strings, key=len) if strings else None\n'), ['pass', 'pass', 'wrong_answer']],
    ['HumanEval/12', body('HumanEval/12', '    return [max(strings, key=len)] if strings else None\n'), ['pass', 'wrong_answer', 'wrong_answer']],
    ['HumanEval/12', body('HumanEval/12', "    return max(strings, key=len) if strings else ''\n"), ['wrong_answer', 'pass', 'pass']],
  ];
  try {
    const responses = await sandbox.judgeMany(cases.map(([id, code], i) => ({ id: `${id}#${i}`, code, tests: humanEvalTests(humanEval(id))! })));
    responses.forEach((response: JudgeResponse, i) => {
      assert.ok(!('error' in response), `expected a verdict, got ${JSON.stringify(response)}`);
      assert.deepEqual((response as JudgeVerdict).verdicts, cases[i][2], `${response.id}: ${(response as JudgeVerdict).stderr}`);
    });
  } finally {
    await sandbox.dispose();
  }
});
