/**
 * Critic benchmark: onnxruntime-node (through loadCritic, worker thread included) vs
 * PyTorch eager on the same random weights, tiny and mid-size configs. Prints figures,
 * asserts nothing.
 *
 *   node --import tsx benchmarks/critic/bench.ts [--threads N] [--repeats N] [--only tiny|mid]
 *
 * PyTorch and Node alternate for --repeats rounds (medians reported), so load on a
 * shared machine hits both alike; int8/int4 are measured once afterwards.
 *
 * full:    one problem's prompt + ~1,000 response tokens scored from nothing (tokens/s).
 * append:  20 tokens appended to a stream holding a ~2,000-token context, against
 *          re-scoring that context (prompt cached), the editor's two ways to update.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { loadCritic } from '../../src/core/critic';
import type { Critic } from '../../src/core/critic';
import type { Problem } from '../../src/core/problem/types';
import { buildMessages } from '../../src/core/contracts/prompt';

const root = join(__dirname, '..', '..');
const python = join(root, '.venv', 'bin', 'python');
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const threads = Number(arg('threads', String(cpus().length)));
const repeats = Number(arg('repeats', '3'));
const only = arg('only', '');

const CONFIGS = [
  { name: 'tiny', layers: 2, hidden: 64, heads: 4, kvHeads: 2 },
  { name: 'mid', layers: 8, hidden: 1024, heads: 16, kvHeads: 4 },
].filter((c) => !only || c.name === only);

const CORPUS = [
  'def solve(nums):\n    total = 0\n    for x in nums:\n        total += x\n    return total\n',
  'n = int(input())\nprint(sum(map(int, input().split())))\n',
  'class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n                return [seen[target - x], i]\n            seen[x] = i\n',
  '# café naïve 🙂 — tabs\tand spaces\n',
];
const LONG_TEXT = Array.from({ length: 90 }, (_, i) => CORPUS[i % CORPUS.length]).join('');

function middle(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

async function median(fn: () => Promise<unknown>, times: number): Promise<number> {
  await fn();
  const seconds: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = process.hrtime.bigint();
    await fn();
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return middle(seconds);
}

/** The prefix of LONG_TEXT with `tokens` tokens, and the following 20-token chunks. */
async function texts(critic: Critic, problem: Problem) {
  const scored = await critic.score(problem, LONG_TEXT);
  const at = (k: number) => scored.charOffsets[k][0];
  return {
    cut: (tokens: number) => LONG_TEXT.slice(0, at(tokens)),
    chunks: (from: number, count: number) => Array.from({ length: count }, (_, i) => LONG_TEXT.slice(at(from + 20 * i), at(from + 20 * (i + 1)))),
  };
}

function promptTokens(bundle: string, problem: Problem): number {
  const out = execFileSync(python, ['-c', 'import sys,json; from transformers import AutoTokenizer; t=AutoTokenizer.from_pretrained(sys.argv[1]); m=json.load(sys.stdin); print(len(t.encode(t.apply_chat_template(m, add_generation_prompt=True, tokenize=False), add_special_tokens=False)))', bundle], {
    input: JSON.stringify(buildMessages(problem)),
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  return Number(out.toString().trim());
}

async function main() {
  console.log(`critic benchmark: ${threads} threads, median of ${repeats}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores)`);
  const rows: string[] = [];
  for (const config of CONFIGS) {
    const bundle = join(root, '.cache', 'bench', `critic-${config.name}`);
    process.stdout.write(`\n[${config.name}] building bundle ${bundle} (cached) ...\n`);
    execFileSync(python, ['-m', 'passlens_training.testing.fixtures', 'critic-bundle', bundle, '--layers', String(config.layers), '--hidden', String(config.hidden), '--heads', String(config.heads), '--kv-heads', String(config.kvHeads), '--max-positions', '4096', '--dtype', 'int8', '--dtype', 'int4'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    const problem: Problem = { question: 'Read numbers and print their sum.', kind: 'standard_input' };
    const prompt = promptTokens(bundle, problem);
    const fp32 = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', threads });
    const t = await texts(fp32, problem);
    const fullText = t.cut(1024);
    const contextText = t.cut(2000 - prompt);
    const chunks = t.chunks(2000 - prompt, 8);

    // The machine is shared: PyTorch and Node take turns, round after round, and each
    // figure is the median over rounds, so load changes hit both sides alike.
    const runTorch = () =>
      JSON.parse(
        execFileSync(python, [join(__dirname, 'bench_torch.py')], {
          cwd: root,
          input: JSON.stringify({ checkpoint: `${bundle}.checkpoint`, messages: buildMessages(problem), full_text: fullText, context_text: contextText, chunks, threads, repeats: 1 }),
          stdio: ['pipe', 'pipe', 'inherit'],
          maxBuffer: 1 << 24,
        }).toString(),
      ) as Record<'full' | 'rescore' | 'append', { tokens: number; seconds: number }>;
    let fresh = 0;
    const measureNode = async (critic: Critic) => {
      // A new question each time, so the prompt is scored too (no cached prompt).
      const fullSeconds = await median(() => critic.score({ ...problem, question: `${problem.question} #${fresh++}` }, fullText), 1);
      await critic.score(problem, contextText); // caches the prompt
      const rescoreSeconds = await median(() => critic.score(problem, contextText), 1);
      const stream = await critic.open(problem);
      await stream.append(contextText);
      const appendTimes: number[] = [];
      let appended = 0;
      for (const chunk of chunks) {
        const start = process.hrtime.bigint();
        appended += (await stream.append(chunk)).tokenIds.length;
        appendTimes.push(Number(process.hrtime.bigint() - start) / 1e9);
      }
      await stream.close();
      return { fullSeconds, rescoreSeconds, appendSeconds: middle(appendTimes), appendTokens: appended / chunks.length };
    };
    const fullTokens = prompt + 1024 + 2; // the "#n" question suffix adds a token or two
    const rounds: Array<{ torch: ReturnType<typeof runTorch>; node: Awaited<ReturnType<typeof measureNode>> }> = [];
    for (let r = 0; r < repeats; r++) rounds.push({ torch: runTorch(), node: await measureNode(fp32) });
    const med = (f: (x: (typeof rounds)[number]) => number) => middle(rounds.map(f));
    const report = (label: string, n: { fullSeconds: number; rescoreSeconds: number; appendSeconds: number; appendTokens: number }) => {
      const line = [
        config.name.padEnd(5),
        label.padEnd(10),
        `full ${(fullTokens / n.fullSeconds).toFixed(0).padStart(7)} tok/s`,
        `rescore(${2000 - prompt} resp tok) ${(n.rescoreSeconds * 1000).toFixed(1).padStart(8)} ms`,
        `append(~${n.appendTokens.toFixed(0)} tok) ${(n.appendSeconds * 1000).toFixed(1).padStart(7)} ms`,
        `append/rescore 1/${(n.rescoreSeconds / n.appendSeconds).toFixed(0)}`,
      ].join(' | ');
      rows.push(line);
      console.log(line);
    };
    const nodeFull = fullTokens / med((x) => x.node.fullSeconds);
    report('node fp32', { fullSeconds: med((x) => x.node.fullSeconds), rescoreSeconds: med((x) => x.node.rescoreSeconds), appendSeconds: med((x) => x.node.appendSeconds), appendTokens: rounds[0].node.appendTokens });
    const torch = { full: med((x) => x.torch.full.tokens / x.torch.full.seconds), rescore: med((x) => x.torch.rescore.seconds), append: med((x) => x.torch.append.seconds) };
    const torchLine = [
      config.name.padEnd(5),
      'torch fp32'.padEnd(10),
      `full ${torch.full.toFixed(0).padStart(7)} tok/s`,
      `rescore(${rounds[0].torch.rescore.tokens} tok, prompt incl.) ${(torch.rescore * 1000).toFixed(1).padStart(8)} ms`,
      `append(~${rounds[0].torch.append.tokens.toFixed(0)} tok) ${(torch.append * 1000).toFixed(1).padStart(7)} ms`,
      `append/rescore 1/${(torch.rescore / torch.append).toFixed(0)}`,
    ].join(' | ');
    rows.push(torchLine);
    console.log(torchLine);
    const ratio = `${config.name.padEnd(5)} node fp32 / torch eager full-scoring throughput: ${(nodeFull / torch.full).toFixed(2)}x (median of ${repeats} alternating rounds)`;
    rows.push(ratio);
    console.log(ratio);
    // Quantised variants, for reference (one round each, after the comparison).
    for (const dtype of ['int8', 'int4'] as const) {
      const critic = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', threads, dtype });
      await critic.score(problem, fullText);
      report(`node ${dtype}`, await measureNode(critic));
      await critic.dispose();
    }
    await fp32.dispose();
  }
  console.log(`\nsummary\n${rows.join('\n')}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
