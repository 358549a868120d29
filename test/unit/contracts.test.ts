/**
 * The shared contracts (contracts/), TypeScript side: every case file runs here and in the
 * Python suite (training/tests/test_contracts.py); what the extension reads and sends is
 * checked against the same JSON Schemas.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { DEFAULT_TEMPLATES, buildMessages, calibrate, extractCode, parseCalibration, rankingIndex, validateTemplates } from '../../src/core/contracts';
import { readManifest } from '../../src/core/critic/manifest';
import type { Problem, PromptTemplates } from '../../src/core/problem/types';
import { SandboxClient, defaultJudgePath } from '../../src/core/sandbox';
import type { JudgeRequest } from '../../src/core/sandbox/types';
import { guidedSearch } from '../../src/core/generateAndRank/guided';
import { problemFromStatement } from '../../src/core/problem/extraction';
import { repoRoot, tinyCriticBundle } from '../fixtures/models';
import { CharCritic, ScriptedGenerator, type ScriptedText } from '../fixtures/scripted';

type Transformers = typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });

const contracts = join(repoRoot, 'contracts');
const load = <T>(path: string): T => JSON.parse(readFileSync(join(contracts, path), 'utf8')) as T;

interface ExtractionCase { name: string; response: string; code: string; start: number }
interface RankingCase { name: string; token_ids: number[]; index: number | null }
interface CalibrationCase { name: string; calibration: unknown; values: number[]; expected: number[] }
interface PromptCase {
  name: string;
  problem: { question: string; starter_code: string; kind: Problem['kind'] };
  /** The case's own prompt templates (a critic bundle carries its own); the contract's when absent. */
  templates?: PromptTemplates;
  messages: Array<{ role: string; content: string }>;
  chat_template: string;
  rendered: string;
}

interface GuidedCase {
  name: string;
  policy: { width: number; interval: number; prune_fraction: number; threshold: number; warmup_tokens: number; rebranch: boolean; window: number };
  max_new_tokens: number;
  token_budget: number | null;
  roots: ScriptedText[];
  continuations: Record<string, string[]>;
  expect: Array<{ index: number; text: string; finish: string; tokens: number; pruned: number | false; branch: { from: number; at: number } | null }>;
}

/** A UTF-16 offset as the contract counts it: Unicode code points. */
const codePoints = (text: string, utf16: number) => (utf16 < 0 ? utf16 : Array.from(text.slice(0, utf16)).length);

const runners: Record<string, () => Promise<void>> = {
  'code-extraction.json': async () => {
    for (const c of load<{ cases: ExtractionCase[] }>('cases/code-extraction.json').cases) {
      const got = extractCode(c.response);
      assert.deepEqual({ code: got.code, start: codePoints(c.response, got.start) }, { code: c.code, start: c.start }, c.name);
    }
  },
  'ranking-index.json': async () => {
    const file = load<{ special_ids: number[]; cases: RankingCase[] }>('cases/ranking-index.json');
    for (const c of file.cases) assert.equal(rankingIndex(c.token_ids, file.special_ids) ?? null, c.index, c.name);
  },
  'calibration.json': async () => {
    const file = load<{ cases: CalibrationCase[]; rejected: Array<{ name: string; calibration: unknown }> }>('cases/calibration.json');
    for (const c of file.cases) {
      const got = calibrate(c.values, parseCalibration(c.calibration));
      got.forEach((v, i) => assert.ok(Math.abs(v - c.expected[i]) <= 1e-9, `${c.name}: value ${i} is ${v}, Python's ${c.expected[i]}`));
    }
    for (const c of file.rejected) assert.throws(() => parseCalibration(c.calibration), Error, c.name);
  },
  'prompts.json': async () => {
    const { AutoTokenizer }: Transformers = await import('@huggingface/transformers');
    const tokenizer = await AutoTokenizer.from_pretrained(tinyCriticBundle(), { local_files_only: true });
    for (const c of load<{ cases: PromptCase[] }>('cases/prompts.json').cases) {
      const problem = { question: c.problem.question, starterCode: c.problem.starter_code, kind: c.problem.kind };
      const messages = buildMessages(problem, c.templates ? validateTemplates(c.templates, c.name) : DEFAULT_TEMPLATES);
      assert.deepEqual(messages, c.messages, c.name);
      const rendered = tokenizer.apply_chat_template(messages, { chat_template: c.chat_template, add_generation_prompt: true, tokenize: false });
      assert.equal(rendered, c.rendered, c.name);
    }
  },
  'guided-search.json': async () => {
    for (const c of load<{ cases: GuidedCase[] }>('cases/guided-search.json').cases) {
      const continuations = Object.fromEntries(Object.entries(c.continuations).map(([prefix, texts]) => [prefix, texts.map((text) => ({ text }))]));
      const p = c.policy;
      const ranked = await guidedSearch(new ScriptedGenerator(c.roots, continuations), new CharCritic(), problemFromStatement('Print 1.'), {
        policy: { width: p.width, interval: p.interval, pruneFraction: p.prune_fraction, threshold: p.threshold, warmupTokens: p.warmup_tokens, rebranch: p.rebranch, window: p.window },
        temperature: 1,
        maxNewTokens: c.max_new_tokens,
        tokenBudget: c.token_budget ?? undefined,
      });
      const got = ranked.map((r) => ({ index: r.index, text: r.text, finish: r.finishReason, tokens: r.tokens, pruned: r.pruned, branch: r.branch ?? null }));
      assert.deepEqual(got, c.expect, c.name);
    }
  },
};

test('every case file has a runner here', () => {
  assert.deepEqual(readdirSync(join(contracts, 'cases')).filter((f) => f.endsWith('.json')).sort(), Object.keys(runners).sort());
});

for (const [file, run] of Object.entries(runners)) test(`contract cases: ${file}`, run);

const ajv = new Ajv2020({ allErrors: true, strict: false });
for (const file of readdirSync(join(contracts, 'schemas'))) ajv.addSchema(load(join('schemas', file)), file.replace('.schema.json', ''));

function assertValid(schema: string, value: unknown): void {
  const validate = ajv.getSchema(schema);
  assert.ok(validate, `no schema ${schema}`);
  assert.ok(validate(value), `${schema}: ${ajv.errorsText(validate.errors)}`);
}

test('the manifest the runtime reads is the schema\'s critic manifest', () => {
  assertValid('critic-manifest', readManifest(tinyCriticBundle()));
  const validate = ajv.getSchema('critic-manifest')!;
  assert.equal(validate({ ...readManifest(tinyCriticBundle()), format_version: 2 }), false, 'a manifest of another version is rejected');
});

test('requests the client sends and responses the real judge gives follow the sandbox schemas', async () => {
  const client = new SandboxClient({ pythonPath: join(repoRoot, '.venv', 'bin', 'python'), judgePath: defaultJudgePath(join(repoRoot, 'src', 'core', 'sandbox')), trusted: true, workers: 1 });
  try {
    const requests: JudgeRequest[] = [
      { id: 'stdin', code: 'print(int(input()) * 2)', tests: { inputs: ['2\n'], outputs: ['4\n'] }, timeout_s: 2, memory_mb: 256 },
      { id: 'call', code: 'def f(a):\n    return a + 1\n', tests: { inputs: [[1]], outputs: [3], fn_name: 'f' }, timeout_s: 2 },
    ];
    for (const request of requests) {
      assertValid('sandbox-request', request);
      assertValid('sandbox-response', await client.judge(request));
    }
  } finally {
    await client.dispose();
  }
});
