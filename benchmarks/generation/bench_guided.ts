/**
 * Guided search against best-of-n, live: the micro generator (local worker) and the micro
 * critic bundle on a few validation problems of the micro world, each strategy run with the
 * same seed, the top candidate judged on the problem's full tests in the sandbox. Prints
 * pass@1, generated tokens and seconds side by side. Asserts nothing; the offline replay
 * (docs/guided-generation.md) is the measurement with intervals, this is the live check.
 *
 *   node --import tsx benchmarks/generation/bench_guided.ts [MICRO_DIR=$PASSLENS_MICRO_DIR or .cache/micro/ci] [problems=4] [n=6]
 *
 * Guided search uses DEFAULT_GUIDED (search.ts). The local worker generates guided streams in
 * turns (docs/guided-generation.md), so its seconds are those of one worker taking turns.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCritic } from '../../src/core/critic';
import { judgeCandidates, type RankedCandidate } from '../../src/core/generateAndRank/bestOfN';
import { DEFAULT_GUIDED, search, type SearchStrategy } from '../../src/core/generateAndRank/search';
import { LocalGenerator } from '../../src/core/generation/local';
import type { Problem, ProblemKind } from '../../src/core/problem/types';
import { SandboxClient, defaultJudgePath } from '../../src/core/sandbox';

const root = join(__dirname, '..', '..');
const [dirArg, problemsArg = '4', nArg = '6'] = process.argv.slice(2);
const micro = dirArg ?? process.env.PASSLENS_MICRO_DIR ?? join(root, '.cache', 'micro', 'ci');
const count = Number(problemsArg);
const n = Number(nArg);

interface MicroProblem {
  problem_id: string;
  question: string;
  starter_code: string;
  io_type: ProblemKind;
  input_output: { inputs: unknown[]; outputs: unknown[]; fn_name?: string };
}

function validationProblems(): Array<{ id: string; problem: Problem }> {
  const split = JSON.parse(readFileSync(join(micro, 'world', 'split.json'), 'utf8')) as { validation: string[] };
  const wanted = new Set(split.validation.slice(0, count));
  return readFileSync(join(micro, 'world', 'problems.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as MicroProblem)
    .filter((p) => wanted.has(p.problem_id))
    .map((p) => ({
      id: p.problem_id,
      problem: { question: p.question, kind: p.io_type, starterCode: p.starter_code || undefined, tests: p.input_output },
    }));
}

interface Row {
  passed: number;
  tokens: number;
  seconds: number;
  pruned: number;
}

(async () => {
  const problems = validationProblems();
  if (problems.length === 0) throw new Error(`${micro}/world: no validation problems (build the micro models: bash scripts/build-micro.sh --ci)`);
  const generator = new LocalGenerator({ model: join(micro, 'generator'), dtype: 'fp32', offlineOnly: true });
  const critic = await loadCritic({ bundlePath: join(micro, 'critic-bundle'), executionProvider: 'cpu' });
  const sandbox = new SandboxClient({ pythonPath: join(root, '.venv', 'bin', 'python'), judgePath: defaultJudgePath(join(root, 'src', 'core', 'sandbox')), trusted: true });
  const totals: Record<SearchStrategy, Row> = {
    'best-of-n': { passed: 0, tokens: 0, seconds: 0, pruned: 0 },
    guided: { passed: 0, tokens: 0, seconds: 0, pruned: 0 },
  };
  try {
    await generator.load();
    console.log(`${problems.length} validation problems of ${micro}, n = ${n}, temperature 1, max 160 new tokens; guided: ${JSON.stringify(DEFAULT_GUIDED)}`);
    console.log(['problem', 'strategy', 'pass@1', 'tokens', 'seconds', 'pruned'].map((h, i) => h.padEnd(i === 0 ? 40 : 11)).join(''));
    // One untimed search first: the critic's and generator's first runs pay one-off start-up costs.
    await search(generator, critic, problems[0].problem, { strategy: 'best-of-n', n: 1, temperature: 1, maxNewTokens: 16, seed: 0 });
    for (const [k, { id, problem }] of problems.entries()) {
      // Same seed for both; which goes first alternates, so load on a shared machine hits both alike.
      const order: SearchStrategy[] = k % 2 === 0 ? ['best-of-n', 'guided'] : ['guided', 'best-of-n'];
      for (const strategy of order) {
        const started = performance.now();
        const ranked: RankedCandidate[] = await search(generator, critic, problem, { strategy, n, temperature: 1, maxNewTokens: 160, seed: 1000 + k });
        const seconds = (performance.now() - started) / 1000;
        const [best] = ranked;
        await judgeCandidates(sandbox, problem, [best], { timeoutSeconds: 4, memoryMb: 1024 });
        const passed = best.judged !== undefined && 'passed' in best.judged && best.judged.passed ? 1 : 0;
        const tokens = ranked.reduce((sum, c) => sum + c.tokens, 0);
        const pruned = ranked.filter((c) => c.pruned !== false).length;
        const row = totals[strategy];
        row.passed += passed;
        row.tokens += tokens;
        row.seconds += seconds;
        row.pruned += pruned;
        console.log([id, strategy, String(passed), String(tokens), seconds.toFixed(2), String(pruned)].map((c, i) => c.padEnd(i === 0 ? 40 : 11)).join(''));
      }
    }
    const b = totals['best-of-n'];
    const g = totals.guided;
    console.log(`\nover ${problems.length} problems     pass@1       tokens       seconds      pruned`);
    for (const [name, row] of [['best-of-n', b], ['guided', g]] as const) {
      console.log(`${name.padEnd(22)}${(row.passed / problems.length).toFixed(2).padEnd(13)}${String(row.tokens).padEnd(13)}${row.seconds.toFixed(1).padEnd(13)}${row.pruned}`);
    }
    console.log(`guided / best-of-n   tokens ${(g.tokens / b.tokens).toFixed(2)}x, seconds ${(g.seconds / b.seconds).toFixed(2)}x`);
  } finally {
    await sandbox.dispose();
    await critic.dispose();
    await generator.dispose();
  }
})();
