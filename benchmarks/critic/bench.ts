/**
 * Critic benchmark: onnxruntime-node (through loadCritic, worker thread included) vs
 * PyTorch eager on the same random weights, tiny and mid-size configs. Prints figures,
 * asserts nothing.
 *
 *   node --import tsx benchmarks/critic/bench.ts [--threads N] [--repeats N] [--only tiny|mid]
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
import type { Problem } from '../../src/core/problem';
import { buildMessages } from '../../src/core/prompt';

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

async function median(fn: () => Promise<unknown>, times: number): Promise<number> {
  await fn();
  const seconds: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = process.hrtime.bigint();
    await fn();
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return seconds.sort((a, b) => a - b)[Math.floor(seconds.length / 2)];
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
    execFileSync(python, ['-m', 'passlens_training.fixtures', 'critic-bundle', bundle, '--layers', String(config.layers), '--hidden', String(config.hidden), '--heads', String(config.heads), '--kv-heads', String(config.kvHeads), '--max-positions', '4096', '--dtype', 'int8', '--dtype', 'int4'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    const problem: Problem = { question: 'Read numbers and print their sum.', kind: 'standard_input' };
    const prompt = promptTokens(bundle, problem);
    const fp32 = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', threads });
    const t = await texts(fp32, problem);
    const fullText = t.cut(1024);
    const contextText = t.cut(2000 - prompt);
    const chunks = t.chunks(2000 - prompt, 8);

    // PyTorch eager, same checkpoint, same texts.
    const torch = JSON.parse(
      execFileSync(python, [join(__dirname, 'bench_torch.py')], {
        cwd: root,
        input: JSON.stringify({ checkpoint: `${bundle}.checkpoint`, messages: buildMessages(problem), full_text: fullText, context_text: contextText, chunks, threads, repeats }),
        stdio: ['pipe', 'pipe', 'inherit'],
        maxBuffer: 1 << 24,
      }).toString(),
    );

    for (const dtype of ['fp32', 'int8', 'int4'] as const) {
      const critic = dtype === 'fp32' ? fp32 : await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', threads, dtype });
      let fresh = 0;
      // A new question each time, so the prompt is scored too (no cached prompt).
      const fullSeconds = await median(() => critic.score({ ...problem, question: `${problem.question} #${fresh++}` }, fullText), repeats);
      const fullTokens = prompt + 1024 + String(fresh).length; // the question suffix adds a token or two
      await critic.score(problem, contextText); // caches the prompt
      const rescoreSeconds = await median(() => critic.score(problem, contextText), repeats);
      const stream = await critic.open(problem);
      await stream.append(contextText);
      const appendTimes: number[] = [];
      let appended = 0;
      for (const chunk of chunks) {
        const start = process.hrtime.bigint();
        const changed = await stream.append(chunk);
        appendTimes.push(Number(process.hrtime.bigint() - start) / 1e9);
        appended += changed.tokenIds.length;
      }
      await stream.close();
      const appendSeconds = appendTimes.sort((a, b) => a - b)[Math.floor(appendTimes.length / 2)];
      const line = [
        config.name.padEnd(5),
        `node ${dtype}`.padEnd(10),
        `full ${(fullTokens / fullSeconds).toFixed(0).padStart(7)} tok/s`,
        `rescore(${2000 - prompt} resp tok) ${(rescoreSeconds * 1000).toFixed(1).padStart(8)} ms`,
        `append(~${(appended / chunks.length).toFixed(0)} tok) ${(appendSeconds * 1000).toFixed(1).padStart(7)} ms`,
        `append/rescore 1/${(rescoreSeconds / appendSeconds).toFixed(0)}`,
      ].join(' | ');
      rows.push(line);
      console.log(line);
      if (dtype !== 'fp32') await critic.dispose();
    }
    await fp32.dispose();
    const torchFull = torch.full.tokens / torch.full.seconds;
    const line = [
      config.name.padEnd(5),
      'torch fp32'.padEnd(10),
      `full ${torchFull.toFixed(0).padStart(7)} tok/s`,
      `rescore(${torch.rescore.tokens} tok, prompt incl.) ${(torch.rescore.seconds * 1000).toFixed(1).padStart(8)} ms`,
      `append(~${torch.append.tokens.toFixed(0)} tok) ${(torch.append.seconds * 1000).toFixed(1).padStart(7)} ms`,
      `append/rescore 1/${(torch.rescore.seconds / torch.append.seconds).toFixed(0)}`,
    ].join(' | ');
    rows.push(line);
    console.log(line);
    const nodeFull = Number(rows[rows.length - 4].match(/full\s+(\d+)/)![1]);
    const ratio = `${config.name.padEnd(5)} node fp32 / torch eager full-scoring throughput: ${(nodeFull / torchFull).toFixed(2)}x`;
    rows.push(ratio);
    console.log(ratio);
  }
  console.log(`\nsummary\n${rows.join('\n')}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
