/**
 * Critic append latency on the Phi-4-mini-width model (hidden 3072, 24/8 heads, vocabulary
 * 200,064, 2 layers; test/fixtures/models.ts phi4MiniWidthCriticBundle), before and after the
 * in-place key/value cache, against PyTorch eager on the same weights. Prints figures and
 * ratios side by side; asserts nothing.
 *
 *   node --import tsx benchmarks/critic/bench_append.ts [--threads N] [--rounds N] [--context 2000] [--before COMMIT]
 *
 * before  the engine of commit --before (default 8e404cb, the last whose cache lived in JS
 *         arrays, copied into and out of onnxruntime on every append and cut), taken with
 *         `git archive` into .cache/bench/, on the same weights exported in the graph layout it
 *         reads (`present`, past + new);
 * after   this tree's engine on the bundle as exported now (new tokens' keys/values only),
 *         fp32 and int4;
 * torch   PyTorch eager (bench_append_torch.py), cache copied outside the timing.
 * Each runs in its own process (peak RSS is its own), in turn, for --rounds rounds; medians.
 *
 * A stream is primed with --context tokens (prompt included), then gets 8 appends of 20 tokens
 * and 40 appends of one character (keystrokes: the last token usually changes, so the cache is
 * cut and 1-2 tokens are scored again).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Critic } from '../../src/core/critic';
import type { Problem } from '../../src/core/problem/types';
import { buildMessages } from '../../src/core/contracts/prompt';
import { phi4MiniWidthCriticBundle } from '../../test/fixtures/models';

const root = join(__dirname, '..', '..');
const python = join(root, '.venv', 'bin', 'python');
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const threads = Number(arg('threads', String(cpus().length)));
const rounds = Number(arg('rounds', '2'));
const contextTokens = Number(arg('context', '2000'));
const before = arg('before', '8e404cb');
const PROBLEM: Problem = { question: 'Read numbers and print their sum.', kind: 'standard_input' };
const CORPUS = [
  'def solve(nums):\n    total = 0\n    for x in nums:\n        total += x\n    return total\n',
  'n = int(input())\nprint(sum(map(int, input().split())))\n',
  'class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n                return [seen[target - x], i]\n            seen[x] = i\n',
];
const LONG_TEXT = Array.from({ length: 200 }, (_, i) => CORPUS[i % CORPUS.length]).join('');

interface Workload {
  contextText: string;
  appends: string[][];
}

interface Measured {
  load_seconds: number;
  prime: { tokens: number; seconds: number };
  appends: Array<{ tokens: number; seconds: number }>;
  max_rss_kb: number;
  rss_after_load_kb?: number;
}

const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** In a child process: one engine (this tree's or an archived one) on one bundle. */
async function measureNode(engineDir: string, bundle: string, dtype: string, work: Workload): Promise<Measured> {
  const { loadCritic } = (await import(join(engineDir, 'src', 'core', 'critic', 'index.ts'))) as { loadCritic: (o: object) => Promise<Critic> };
  let start = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - start) / 1e9;
  const critic = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', threads, dtype });
  const load = seconds();
  const rssAfterLoad = process.resourceUsage().maxRSS;
  const stream = await critic.open(PROBLEM);
  start = process.hrtime.bigint();
  await stream.append(work.contextText);
  const prime = { tokens: stream.current().tokenIds.length, seconds: seconds() };
  const appends = [];
  for (const chunks of work.appends) {
    const times: number[] = [];
    let tokens = 0;
    for (const chunk of chunks) {
      start = process.hrtime.bigint();
      tokens += (await stream.append(chunk)).tokenIds.length;
      times.push(seconds());
    }
    appends.push({ tokens: tokens / chunks.length, seconds: middle(times) });
  }
  await stream.close();
  await critic.dispose();
  return { load_seconds: load, prime, appends, max_rss_kb: process.resourceUsage().maxRSS, rss_after_load_kb: rssAfterLoad };
}

/** The context text (about `contextTokens` with the prompt) and the appends, cut at token boundaries. */
async function workload(bundle: string): Promise<Workload> {
  const lib = await import('@huggingface/transformers');
  lib.env.allowRemoteModels = false;
  lib.env.localModelPath = dirname(bundle);
  const tokenizer = await lib.AutoTokenizer.from_pretrained(basename(bundle), { local_files_only: true });
  const prompt = tokenizer.apply_chat_template(buildMessages(PROBLEM), { add_generation_prompt: true, tokenize: false }) as string;
  const promptTokens = tokenizer.encode(prompt, { add_special_tokens: false }).length;
  const ids = tokenizer.encode(LONG_TEXT, { add_special_tokens: false });
  const text = (from: number, to: number) => tokenizer.decode(ids.slice(from, to));
  const cut = contextTokens - promptTokens;
  const chunks = Array.from({ length: 8 }, (_, i) => text(cut + 20 * i, cut + 20 * (i + 1)));
  const keystrokes = [...text(cut + 160, cut + 200)].slice(0, 40);
  return { contextText: text(0, cut), appends: [chunks, keystrokes] };
}

/** The engine source of commit `commit` (src and contracts), archived once under .cache/bench. */
function archivedEngine(commit: string): string {
  const dir = join(root, '.cache', 'bench', `engine-${commit}`);
  if (!existsSync(join(dir, 'src', 'core', 'critic', 'index.ts'))) {
    mkdirSync(dir, { recursive: true });
    execFileSync('bash', ['-c', `git archive ${commit} src contracts | tar -x -C ${JSON.stringify(dir)}`], { cwd: root, stdio: 'inherit' });
  }
  return dir;
}

/** The bundle's weights exported again in the `present` layout the older engine reads (cached beside it). */
function presentLayoutBundle(bundle: string): string {
  const out = `${bundle}-present-layout`;
  const stamp = readFileSync(join(bundle, 'fixture-inputs.sha256'), 'utf8');
  const stampPath = join(out, 'built-from.sha256');
  if (!existsSync(stampPath) || readFileSync(stampPath, 'utf8') !== stamp) {
    const script = [
      'import sys, pathlib',
      'from passlens_training.export.critic_bundle import build_bundle',
      'build_bundle(sys.argv[1], sys.argv[2], kv_outputs="present", base_model="phi4-mini-width (present layout)")',
      'pathlib.Path(sys.argv[2], "built-from.sha256").write_text(sys.argv[3])',
    ].join('\n');
    execFileSync(python, ['-c', script, `${bundle}.checkpoint`, out, stamp], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return out;
}

function runChild(engineDir: string, bundle: string, dtype: string, work: Workload): Measured {
  const out = execFileSync(process.execPath, ['--import', 'tsx', __filename, '--role', 'node', '--engine', engineDir, '--bundle', bundle, '--dtype', dtype, '--threads', String(threads)], {
    cwd: root,
    input: JSON.stringify(work),
    stdio: ['pipe', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  return JSON.parse(out.toString()) as Measured;
}

function runTorch(bundle: string, work: Workload): Measured {
  const out = execFileSync(python, [join(__dirname, 'bench_append_torch.py')], {
    cwd: root,
    input: JSON.stringify({ checkpoint: `${bundle}.checkpoint`, messages: buildMessages(PROBLEM), context_text: work.contextText, appends: work.appends, threads }),
    stdio: ['pipe', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  return JSON.parse(out.toString()) as Measured;
}

async function main() {
  if (process.argv.includes('--role')) {
    const work = JSON.parse(readFileSync(0, 'utf8')) as Workload;
    process.stdout.write(JSON.stringify(await measureNode(arg('engine', root), arg('bundle', ''), arg('dtype', 'fp32'), work)));
    return;
  }
  console.log(`critic append benchmark (Phi-4-mini width, 2 layers): ${threads} threads, ${rounds} rounds, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores)`);
  const bundle = phi4MiniWidthCriticBundle();
  const presentBundle = presentLayoutBundle(bundle);
  const oldEngine = archivedEngine(before);
  const work = await workload(bundle);
  const roles: Array<[string, () => Measured]> = [
    ['torch eager', () => runTorch(bundle, work)],
    [`node before (${before})`, () => runChild(oldEngine, presentBundle, 'fp32', work)],
    ['node after', () => runChild(root, bundle, 'fp32', work)],
    ['node after, int4', () => runChild(root, bundle, 'int4', work)],
  ];
  const results = new Map<string, Measured[]>(roles.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) for (const [name, run] of roles) results.get(name)!.push(run());
  const med = (name: string, f: (m: Measured) => number) => middle(results.get(name)!.map(f));
  const perToken = (name: string, kind: number) => med(name, (m) => m.appends[kind].seconds / m.appends[kind].tokens);
  const kinds = ['20-token append', 'keystroke'];
  console.log(`\ncontext ${results.get('node after')![0].prime.tokens} response tokens after the prompt (${contextTokens} with it); medians of ${rounds} rounds`);
  for (const [name] of roles) {
    const cells = kinds.map((kind, k) => `${kind}: ${(med(name, (m) => m.appends[k].seconds) * 1000).toFixed(1).padStart(7)} ms for ${med(name, (m) => m.appends[k].tokens).toFixed(1)} tok = ${(perToken(name, k) * 1000).toFixed(1).padStart(6)} ms/tok`);
    console.log(`${name.padEnd(22)} | prime ${med(name, (m) => m.prime.seconds).toFixed(1).padStart(5)} s | ${cells.join(' | ')} | peak RSS ${(med(name, (m) => m.max_rss_kb) / 1024).toFixed(0)} MB`);
  }
  const after = 'node after';
  const old = `node before (${before})`;
  const primeRate = (name: string) => med(name, (m) => m.prime.tokens / m.prime.seconds);
  console.log(`prime (scoring the context in one pass): after ${primeRate(after).toFixed(0)} tok/s, before ${primeRate(old).toFixed(0)}, torch eager ${primeRate('torch eager').toFixed(0)} (after vs torch ${(primeRate(after) / primeRate('torch eager')).toFixed(2)}x)`);
  for (const [k, kind] of kinds.entries()) {
    console.log(`${kind.padEnd(16)} per token: after/before speed-up ${(perToken(old, k) / perToken(after, k)).toFixed(2)}x | after vs torch eager ${(perToken('torch eager', k) / perToken(after, k)).toFixed(2)}x | before vs torch eager ${(perToken('torch eager', k) / perToken(old, k)).toFixed(2)}x`);
  }
  const weights = statSync(join(bundle, 'model.onnx.data')).size;
  console.log(`fp32 weights ${(weights / 2 ** 30).toFixed(2)} GiB; node after peak RSS ${(med(after, (m) => m.max_rss_kb) / 2 ** 20).toFixed(2)} GiB (after load ${(med(after, (m) => m.rss_after_load_kb ?? 0) / 2 ** 20).toFixed(2)} GiB)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
