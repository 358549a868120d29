import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, readCandidates } from '../../src/cli';
import { microModels, repoRoot, tinyCriticBundle, tinyGenerator } from '../fixtures/models';
import { withoutStrongIsolation } from '../fixtures/sandbox';

// The CLI keeps verified model hashes in a cache folder: a scratch one, not the user's.
process.env.PASSLENS_CACHE_DIR = mkdtempSync(join(tmpdir(), 'passlens-cli-cache-'));

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

// ---------------------------------------------------------------- keys and redirects

interface Seen {
  path: string;
  auth: string | undefined;
  body: string;
}

/** A loopback server recording each request; `answer` replies. */
async function loopback(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ path: req.url!, auth: req.headers.authorization, body });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

/** One streamed chat choice per request, in the OpenAI SSE format. */
function chatStream(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: '```python\nprint(5)\n```' }, finish_reason: 'stop' }] })}\n\n`);
  res.end('data: [DONE]\n\n');
}

async function withEnv<T>(values: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  Object.assign(process.env, values);
  try {
    return await work();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('rank --server: PASSLENS_API_KEY goes to the --server origin, and nowhere else on a redirect', async () => {
  const { problem } = workspace();
  const server = await loopback(chatStream);
  const elsewhere = await loopback(chatStream);
  // Redirects every request to the other server (another port: another origin).
  const redirector = await loopback((req, res) => res.writeHead(307, { location: `${elsewhere.url}${req.url}` }).end());
  try {
    await withEnv({ PASSLENS_API_KEY: 'cli-key' }, async () => {
      const ok = await run(['rank', problem, '--critic', tinyCriticBundle(), '--server', `${server.url}/v1`, '--model', 'm', '-n', '2', '--json']);
      assert.equal(ok.code, 0, ok.err);
      assert.equal((JSON.parse(ok.out) as unknown[]).length, 2);
      assert.ok(server.seen.length > 0 && server.seen.every((r) => r.auth === 'Bearer cli-key'));

      const redirected = await run(['rank', problem, '--critic', tinyCriticBundle(), '--server', `${redirector.url}/v1`, '--model', 'm', '-n', '2']);
      assert.equal(redirected.code, 1);
      assert.ok(redirected.err.includes(`redirected to ${elsewhere.url}`), redirected.err);
      assert.ok(redirector.seen.length > 0 && redirector.seen.every((r) => r.auth === 'Bearer cli-key'));
      assert.equal(elsewhere.seen.length, 0, 'neither the key nor the prompt reached the other origin');
    });
  } finally {
    for (const s of [server, elsewhere, redirector]) s.close();
  }
});

test('rank --critic-url: PASSLENS_CRITIC_API_KEY goes to the --critic-url origin only; a redirect elsewhere is refused', async () => {
  const { problem, candidates } = workspace();
  const elsewhere = await loopback((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[{"id":"x"}]}'));
  const redirector = await loopback((req, res) => res.writeHead(308, { location: `${elsewhere.url}${req.url}` }).end());
  try {
    await withEnv({ PASSLENS_CRITIC_API_KEY: 'critic-key', PASSLENS_API_KEY: 'generator-key' }, async () => {
      const result = await run(['rank', problem, '--critic-url', redirector.url, '--candidates', candidates]);
      assert.equal(result.code, 1);
      assert.ok(result.err.includes(`redirected to ${elsewhere.url}`), result.err);
      assert.deepEqual(redirector.seen.map((r) => r.auth), ['Bearer critic-key'], 'the critic key, not the generator key');
      assert.equal(elsewhere.seen.length, 0);
    });
  } finally {
    elsewhere.close();
    redirector.close();
  }
});

// ---------------------------------------------------------------- weak isolation

// An absolute interpreter: the PATH below has no python either.
const python = join(repoRoot, '.venv', 'bin', 'python');

test('rank --sandbox where nothing isolates: verdicts "not run" and the judge\'s reason, unless --allow-weak-isolation, which labels them', async () => {
  const { problem, candidates } = workspace();
  await withoutStrongIsolation(async () => {
    const refused = await run(['rank', problem, '--critic', tinyCriticBundle(), '--candidates', candidates, '--sandbox', '--python', python]);
    assert.equal(refused.code, 0, refused.err);
    const rows = refused.out.split('\n').slice(1);
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => r.includes('not run')), refused.out);
    assert.match(refused.err, /the sandbox cannot run here: .*bubblewrap.*pass --allow-weak-isolation/);

    const table = await run(['rank', problem, '--critic', tinyCriticBundle(), '--candidates', candidates, '--sandbox', '--python', python, '--allow-weak-isolation']);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /passes 2 examples \[weak isolation\]/);
    assert.match(table.out, /wrong answer \(0\/2\) \[weak isolation\]/);
    assert.match(table.err, /weak isolation .* can escape it/);

    const json = await run(['rank', problem, '--critic', tinyCriticBundle(), '--candidates', candidates, '--sandbox', '--python', python, '--allow-weak-isolation', '--json']);
    const ranked = JSON.parse(json.out) as Array<{ weak_isolation: boolean; judged: { isolation: string } }>;
    assert.ok(ranked.every((r) => r.weak_isolation === true && r.judged.isolation === 'weak'));
  });
  // With a real sandbox the same rows carry no such label.
  const strong = await run(['rank', problem, '--critic', tinyCriticBundle(), '--candidates', candidates, '--sandbox', '--json']);
  assert.ok((JSON.parse(strong.out) as Array<{ weak_isolation: boolean }>).every((r) => r.weak_isolation === false));
});
