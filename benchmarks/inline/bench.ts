/**
 * The critic's share of an inline suggestion on a long file: N continuations at the end of
 * a 300-line file, each scored in the context of the whole file,
 *   fork (kept)   the file above the cursor already on the kept stream (typing forward):
 *                 N forks, each running only its continuation
 *   fork (cold)   the first suggestion in the file: the prefix once, then N forks
 *   scratch       each whole file scored on its own (critic.score, N times)
 *   scoreMany     the N whole files in one batched call
 * Medians over runs, side by side with ratios. Generation is not included (see
 * `benchmarks/editor/editor-bench.sh inline` for trigger → ghost text in the editor).
 *
 *   node --import tsx benchmarks/inline/bench.ts [--bundle DIR] [--runs N] [--lines N] [-n N]
 * Without --bundle it builds the tiny test bundle with an 8k context (.cache/fixtures/critic-bundle-8k).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCritic } from '../../src/core/critic';
import { codeAsResponse } from '../../src/core/confidence/documentScoring';
import { buildInlineRequest } from '../../src/core/inlineCompletion/request';
import type { Problem } from '../../src/core/problem/types';
import { repoRoot } from '../../test/fixtures/models';

const { values: args } = parseArgs({ options: { bundle: { type: 'string' }, runs: { type: 'string', default: '7' }, lines: { type: 'string', default: '300' }, n: { type: 'string', short: 'n', default: '4' } } });
const runs = Number(args.runs);
const n = Number(args.n);

function pythonFile(lines: number): string {
  const out = ['import sys', '', 'def read_ints():', '    return list(map(int, sys.stdin.readline().split()))', ''];
  for (let f = 0; out.length < lines; f++) {
    out.push(`def step_${f}(values, k):`, '    total = 0', '    for i, v in enumerate(values):', `        if v % (k + ${f + 2}) == 0:`, '            total += v * i', '        else:', `            total -= ${f}`, '    return total', '');
  }
  return out.slice(0, lines).join('\n') + '\n';
}

const CONTINUATIONS = [
  'def main():\n    n, k = read_ints()\n    values = read_ints()\n    print(step_0(values, k))\n\nmain()\n',
  'def main():\n    n, k = read_ints()\n    print(step_1(read_ints(), k))\n\nmain()\n',
  'if __name__ == "__main__":\n    n, k = read_ints()\n    print(step_2(read_ints(), k) - n)\n',
  'def main():\n    values = read_ints()\n    print(sum(values))\n\nmain()\n',
  'print(step_0(read_ints(), 1))\n',
  'def main():\n    n, k = read_ints()\n    values = read_ints()\n    print(max(step_0(values, k), step_1(values, k)))\n\nmain()\n',
];

function benchBundle(): string {
  const out = join(repoRoot, '.cache', 'fixtures', 'critic-bundle-8k');
  execFileSync(join(repoRoot, '.venv', 'bin', 'python'), ['-m', 'passlens_training.testing.fixtures', 'critic-bundle', out, '--max-positions', '8192'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function main() {
  const critic = await loadCritic({ bundlePath: args.bundle ?? benchBundle(), executionProvider: 'cpu' });
  const problem: Problem = { question: 'Read n, k and n integers; print the weighted total.', kind: 'standard_input' };
  const file = pythonFile(Number(args.lines));
  const request = buildInlineRequest(problem, critic.info.templates, file, file.length, { n, temperature: 1, maxNewTokens: 256, fillInTheMiddle: false });
  const continuations = Array.from({ length: n }, (_, i) => CONTINUATIONS[i % CONTINUATIONS.length]);
  const wholeFiles = continuations.map((c) => codeAsResponse(request.prefix + c + request.suffix).text);
  const forkAll = async (stream: Awaited<ReturnType<typeof critic.open>>) => {
    for (const c of continuations) {
      const fork = await stream.fork();
      await fork.append(c + request.suffix);
      await fork.close();
    }
  };
  await critic.scoreMany(problem, wholeFiles); // warm-up: prompt cache, allocations
  const kept = await critic.open(problem);
  await kept.append(request.responsePrefix);
  const samples = { kept: [] as number[], cold: [] as number[], scratch: [] as number[], many: [] as number[] };
  for (let r = 0; r < runs; r++) {
    samples.kept.push(await time(() => forkAll(kept)));
    samples.cold.push(
      await time(async () => {
        const stream = await critic.open(problem);
        await stream.append(request.responsePrefix);
        await forkAll(stream);
        await stream.close();
      }),
    );
    samples.scratch.push(await time(async () => { for (const text of wholeFiles) await critic.score(problem, text); }));
    samples.many.push(await time(() => critic.scoreMany(problem, wholeFiles)));
  }
  const prefixTokens = kept.current().tokenIds.length;
  await kept.close();
  await critic.dispose();
  const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(10);
  const base = median(samples.scratch);
  console.log(`Scoring ${n} inline continuations in the context of a ${args.lines}-line file (${prefixTokens} tokens above the cursor), CPU, median of ${runs}`);
  console.log(`  fork (prefix kept, typing forward)  ${ms(median(samples.kept))}   ${(base / median(samples.kept)).toFixed(1)}× faster than scratch`);
  console.log(`  fork (first suggestion in the file) ${ms(median(samples.cold))}   ${(base / median(samples.cold)).toFixed(1)}×`);
  console.log(`  scratch (each whole file scored)    ${ms(base)}   1.0×`);
  console.log(`  scoreMany (whole files batched)     ${ms(median(samples.many))}   ${(base / median(samples.many)).toFixed(1)}×`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
