import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, readCandidates } from '../../src/cli';
import { microModels, repoRoot, tinyCriticBundle, tinyGenerator } from '../fixtures/models';

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

interface JsonCandidate { rank: number; index: number; p_pass: number; finish_reason: string; tokens: number; pruned: number | false; branch: { from: number; at: number } | null }

test('rank --strategy guided on the micro models: the JSON lists every candidate, pruned ones with the tokens they spent, after the finished ones', async () => {
  const micro = microModels();
  const { code, out, err } = await run([
    'rank', join(repoRoot, 'demo', 'squares_below-stdin.md'), '--critic', micro.criticBundle, '--generator', micro.generator, '--dtype', 'fp32', '--offline',
    '-n', '4', '--max-new-tokens', '160', '--seed', '1', '--strategy', 'guided', '--interval', '32', '--prune-fraction', '0.5', '--warmup-tokens', '0', '--no-rebranch', '--json',
  ]);
  assert.equal(code, 0, err);
  const ranked = JSON.parse(out) as JsonCandidate[];
  assert.equal(ranked.length, 4, 'no re-branching: the four streams started');
  // Four live after the first round: two stop; two after the next: one stops (unless they finished within 64 tokens).
  const pruned = ranked.filter((c) => c.pruned !== false);
  assert.ok(pruned.length >= 2, `pruned: ${JSON.stringify(pruned)}`);
  for (const c of pruned) {
    assert.equal(c.finish_reason, 'pruned');
    assert.ok((c.pruned as number) % 32 === 0 && c.tokens >= (c.pruned as number), 'stopped at a round boundary, tokens counted');
  }
  const firstPruned = ranked.findIndex((c) => c.pruned !== false);
  assert.ok(firstPruned >= 1 && ranked.slice(firstPruned).every((c) => c.pruned !== false), 'finished candidates first');
  assert.ok(ranked.slice(0, firstPruned).every((c) => c.tokens > 0 && c.branch === null && ['stop', 'length'].includes(c.finish_reason)));
});

test('rank --strategy guided prints tokens and where candidates stopped; best-of-n JSON carries tokens and pruned: false', async () => {
  const { problem } = workspace();
  const common = ['rank', problem, '--critic', tinyCriticBundle(), '--generator', tinyGenerator(), '--dtype', 'fp32', '--offline', '-n', '3', '--max-new-tokens', '12', '--seed', '2'];
  const table = await run([...common, '--strategy', 'guided', '--interval', '4', '--prune-fraction', '0.5', '--warmup-tokens', '0', '--window', '4']);
  assert.equal(table.code, 0, table.err);
  const [header, ...rows] = table.out.split('\n');
  assert.match(header, /tokens\s+stopped/);
  assert.ok(rows.some((r) => /\s\d+\s+pruned at 4\s/.test(r)), table.out);
  const best = await run([...common, '--json', '--token-budget', '1000']);
  const ranked = JSON.parse(best.out) as JsonCandidate[];
  assert.ok(ranked.every((c) => c.pruned === false && c.tokens > 0 && c.branch === null));
});

test('usage errors exit 2 and say what is missing', async () => {
  const { problem, candidates } = workspace();
  assert.match((await run(['rank'])).err, /needs a problem file/);
  const noCritic = await run(['rank', problem, '--candidates', candidates]);
  assert.equal(noCritic.code, 2);
  assert.match(noCritic.err, /needs a critic/);
  assert.match((await run(['rank', problem, '--critic', 'x'])).err, /exactly one of --candidates, --generator or --server/);
  assert.equal((await run(['frobnicate'])).code, 2);
  const generate = ['rank', problem, '--critic', 'x', '--generator', 'y'];
  assert.match((await run([...generate, '--strategy', 'beam'])).err, /--strategy is one of best-of-n, guided/);
  assert.match((await run([...generate, '--interval', '8'])).err, /--interval is a guided-search knob: add --strategy guided/);
  assert.match((await run([...generate, '--strategy', 'guided', '--prune-fraction', '1.5'])).err, /--prune-fraction must be in \[0, 1\), not 1.5/);
  assert.match((await run([...generate, '--token-budget', '0'])).err, /--token-budget must be a whole number >= 1, not 0/);
  assert.match((await run(['rank', problem, '--critic', 'x', '--candidates', candidates, '--strategy', 'guided'])).err, /apply to generated candidates, not --candidates/);
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
