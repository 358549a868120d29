/**
 * Editor latency with a critic bundle on CPU, for a 300-line Python file:
 *   open      "file opened" → per-line decorations ready (score + line aggregation)
 *   keystroke one character typed at the end → decorations updated,
 *             full rescoring vs incremental (critic KV cache), side by side
 *   mid-edit  one character changed in the middle (incremental mode must rescore)
 * Medians over runs. The VS Code side (setDecorations) is not included: it is O(lines)
 * and does not depend on the mode.
 *
 *   node --import tsx benchmarks/editor/bench.ts [--bundle DIR] [--runs N] [--lines N]
 * Without --bundle it builds the tiny test bundle with an 8k context (.cache/fixtures/critic-bundle-8k).
 */
import { parseArgs } from 'node:util';
import { loadCritic } from '../../src/core/critic';
import { DocumentScorer } from '../../src/core/confidence/documentScoring';
import type { Problem } from '../../src/core/problem/types';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../test/fixtures/models';

const { values: args } = parseArgs({ options: { bundle: { type: 'string' }, runs: { type: 'string', default: '7' }, lines: { type: 'string', default: '300' } } });
const runs = Number(args.runs);
const lineCount = Number(args.lines);

/** A plausible solution file of `lines` lines (functions, loops, I/O), deterministic. */
function pythonFile(lines: number): string {
  const out = ['import sys', '', 'def read_ints():', '    return list(map(int, sys.stdin.readline().split()))', ''];
  for (let f = 0; out.length < lines - 6; f++) {
    out.push(`def step_${f}(values, k):`, '    total = 0', '    for i, v in enumerate(values):', `        if v % (k + ${f + 2}) == 0:`, '            total += v * i', '        else:', `            total -= ${f}`, '    return total', '');
  }
  out.push('def main():', '    n, k = read_ints()', '    values = read_ints()', '    print(step_0(values, k))', '', 'main()');
  return out.slice(0, lines).join('\n') + '\n';
}

/** The tiny test bundle, with a context long enough for a 300-line file in its small vocabulary. */
function benchBundle(): string {
  const out = join(repoRoot, '.cache', 'fixtures', 'critic-bundle-8k');
  execFileSync(join(repoRoot, '.venv', 'bin', 'python'), ['-m', 'passlens_training.testing.fixtures', 'critic-bundle', out, '--max-positions', '8192'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function main() {
  const bundlePath = args.bundle ?? benchBundle();
  const critic = await loadCritic({ bundlePath, executionProvider: 'cpu' });
  const problem: Problem = { question: 'Read n, k and n integers; print the weighted total.', kind: 'standard_input' };
  const code = pythonFile(lineCount);
  // Warm-up: first session run allocates.
  await new DocumentScorer(critic, problem).score(code);

  const open: number[] = [];
  for (let r = 0; r < runs; r++) {
    const scorer = new DocumentScorer(critic, problem);
    open.push(await time(() => scorer.score(code)));
    await scorer.dispose();
  }

  const keystroke = { full: [] as number[], incremental: [] as number[] };
  for (const mode of ['full', 'incremental'] as const) {
    const scorer = new DocumentScorer(critic, problem, { incremental: mode === 'incremental' });
    let text = code;
    await scorer.score(text);
    for (let r = 0; r < runs; r++) {
      text += 'x';
      const t = await time(() => scorer.score(text));
      keystroke[mode].push(t);
    }
    await scorer.dispose();
  }

  const midEdit: number[] = [];
  const scorer = new DocumentScorer(critic, problem);
  let text = code;
  await scorer.score(text);
  const middle = Math.floor(code.length / 2);
  for (let r = 0; r < runs; r++) {
    text = text.slice(0, middle) + (r % 2 ? '1' : '2') + text.slice(middle + 1);
    midEdit.push(await time(() => scorer.score(text)));
  }
  await scorer.dispose();
  await critic.dispose();

  console.log(`PassLens editor benchmark — ${lineCount}-line file (${code.length} chars), bundle ${bundlePath}, CPU, median of ${runs}`);
  console.log(`  file opened → decorations ready        ${ms(median(open))}`);
  console.log('  keystroke at end → decorations updated');
  console.log(`    full rescoring                       ${ms(median(keystroke.full))}`);
  console.log(`    incremental (KV cache)               ${ms(median(keystroke.incremental))}   (${(median(keystroke.full) / median(keystroke.incremental)).toFixed(1)}× faster)`);
  console.log(`  keystroke mid-file (rescored in full)  ${ms(median(midEdit))}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
