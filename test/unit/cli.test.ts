import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, readCandidates } from '../../src/cli';
import { tinyCriticBundle, tinyGenerator } from '../fixtures/models';

/** Runs the CLI in-process, capturing what it prints. */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'passlens-cli-'));
  const problem = join(dir, 'problem.md');
  writeFileSync(problem, '# Sum\nRead two integers and print their sum.\n\n-----Examples-----\nInput\n2 3\n\nOutput\n5\n\nInput\n10 -4\n\nOutput\n6\n');
  const candidates = join(dir, 'candidates');
  mkdirSync(candidates);
  writeFileSync(join(candidates, 'a_right.py'), 'a, b = map(int, input().split())\nprint(a + b)\n');
  writeFileSync(join(candidates, 'b_wrong.py'), 'a, b = map(int, input().split())\nprint(a - b)\n');
  writeFileSync(join(candidates, 'c_crash.py'), 'print(undefined_name)\n');
  return { dir, problem, candidates };
}

test('rank --candidates --sandbox prints every candidate with p(pass), sparkline and verdict', async () => {
  const { problem, candidates } = workspace();
  const { code, out } = await run(['rank', problem, '--critic', tinyCriticBundle(), '--candidates', candidates, '--sandbox']);
  assert.equal(code, 0);
  const rows = out.split('\n').slice(1);
  assert.equal(rows.length, 3);
  // Candidates are numbered by file name: a_right #0, b_wrong #1, c_crash #2.
  const row = (index: number) => rows.find((r) => r.includes(`#${index} `))!;
  assert.match(row(0), /passes 2 examples/);
  assert.match(row(1), /wrong answer \(0\/2\)/);
  assert.match(row(2), /runtime error \(0\/2\)/);
  for (const r of rows) assert.match(r, /^\s+\d\s+\d+\.\d%\s+[▁▂▃▄▅▆▇█]+/);
});

test('rank --json with a local generator: N candidates sorted by p(pass)', async () => {
  const { problem } = workspace();
  const { code, out } = await run(['rank', problem, '--critic', tinyCriticBundle(), '--generator', tinyGenerator(), '--dtype', 'fp32', '--offline', '-n', '3', '--max-new-tokens', '8', '--seed', '1', '--json']);
  assert.equal(code, 0);
  const ranked = JSON.parse(out) as Array<{ rank: number; p_pass: number; values: number[] }>;
  assert.deepEqual(ranked.map((r) => r.rank), [1, 2, 3]);
  for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].p_pass >= ranked[i].p_pass);
  assert.ok(ranked.every((r) => r.values.length > 0 && r.p_pass === r.values[r.values.length - 1]));
});

test('usage errors exit 2 and say what is missing', async () => {
  const { problem, candidates } = workspace();
  assert.match((await run(['rank'])).err, /needs a problem file/);
  const noCritic = await run(['rank', problem, '--candidates', candidates]);
  assert.equal(noCritic.code, 2);
  assert.match(noCritic.err, /needs a critic/);
  assert.match((await run(['rank', problem, '--critic', 'x'])).err, /exactly one of --candidates, --generator or --server/);
  assert.equal((await run(['frobnicate'])).code, 2);
});

test('readCandidates accepts a JSON list of strings and rejects anything else clearly', () => {
  const { dir } = workspace();
  writeFileSync(join(dir, 'list.json'), '["a", "b"]');
  writeFileSync(join(dir, 'bad.json'), '{"a": 1}');
  assert.deepEqual(readCandidates(join(dir, 'list.json')), ['a', 'b']);
  assert.throws(() => readCandidates(join(dir, 'bad.json')), /expected a JSON list of strings/);
  assert.throws(() => readCandidates(join(dir, 'missing.json')), /no such file or folder/);
  assert.ok(readCandidates(join(dir, 'candidates'))[0].startsWith('```python\n'));
});
