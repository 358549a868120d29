/**
 * The local critic against PyTorch (tiny random value model exported by
 * passlens_training), its streaming, quantised variants, offsets and bundle errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriticError, loadCritic } from '../../src/core/critic';
import type { Critic, TokenScores } from '../../src/core/critic';
import { ByteLevelVocabulary, charOffsets } from '../../src/core/critic/offsets';
import type { Problem } from '../../src/core/problem/types';
import { buildMessages } from '../../src/core/contracts/prompt';
import { isAbortError } from '../../src/core/shared/abort';
import { copyBundle as copyFixture, editManifest, loadError } from '../fixtures/criticBundles';
import { repoRoot, tinyCriticBundle } from '../fixtures/models';

const STDIN_PROBLEM: Problem = { question: 'Read n numbers and print their sum.', kind: 'standard_input' };
const CALL_PROBLEM: Problem = { question: 'Return the indices of two numbers adding up to target.', kind: 'call_based', starterCode: 'class Solution:\n    def twoSum(self, nums, target):' };
const CODE = 'def solve(nums):\n\ttotal = 0\n    for x in nums:  # café naïve 你好 🙂\n        total += x\n    return total\n';
const TEXTS = ['x', 'n = int(input())\nprint(sum(map(int, input().split())))\n', CODE, `Plan: add them up.\n\`\`\`python\n${CODE.repeat(4)}\`\`\`\n`];

interface Reference {
  prompt_ids: number[];
  text_ids: number[][];
  values: number[][];
}

interface ReferenceRequest {
  problem: Problem;
  texts: string[];
  /** Context limit: the prompt loses tokens from its left to fit. */
  maxTokens?: number;
}

/** PyTorch's token ids and values for each request's texts after its problem's prompt (one python run). */
function references(bundle: string, requests: ReferenceRequest[]): Reference[] {
  const manifest = JSON.parse(readFileSync(join(bundle, 'passlens-critic.json'), 'utf8'));
  const body = requests.map((r) => ({ messages: buildMessages(r.problem, manifest.prompt), texts: r.texts, max_tokens: r.maxTokens }));
  const out = execFileSync(join(repoRoot, '.venv', 'bin', 'python'), ['-m', 'passlens_training.testing.fixtures', 'critic-reference', '--checkpoint', `${bundle}.checkpoint`], {
    cwd: repoRoot,
    input: JSON.stringify(body),
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  return JSON.parse(out.toString('utf8')) as Reference[];
}

function maxGap(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length, 'same number of values');
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i])));
}

function assertMatches(scores: TokenScores, ids: number[], values: number[], what: string): void {
  assert.deepEqual(scores.tokenIds, ids, `${what}: token ids`);
  const gap = maxGap(scores.values, values);
  assert.ok(gap < 1e-4, `${what}: values differ from PyTorch by ${gap}`);
}

function assertRoundTrip(text: string, scores: TokenScores): void {
  assert.equal(scores.charOffsets.map(([s, e]) => text.slice(s, e)).join(''), text);
  scores.charOffsets.forEach(([s, e], i) => {
    assert.ok(s <= e && (i === 0 ? s === 0 : s === scores.charOffsets[i - 1][1]), `token ${i} offsets contiguous`);
  });
}

let bundle: string;
let critic: Critic;
let stdinRef: Reference;
let callRef: Reference;
let truncatedRef: Reference;
const scratch = mkdtempSync(join(tmpdir(), 'passlens-critic-'));

before(async () => {
  bundle = tinyCriticBundle();
  critic = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu' });
  [stdinRef, callRef, truncatedRef] = references(bundle, [
    { problem: STDIN_PROBLEM, texts: TEXTS },
    { problem: CALL_PROBLEM, texts: TEXTS },
    { problem: STDIN_PROBLEM, texts: [CODE], maxTokens: 60 },
  ]);
});

after(async () => {
  await critic?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

describe('parity with PyTorch (fp32)', () => {
  test('score and scoreMany equal PyTorch for several lengths, both problem kinds', async () => {
    for (const [problem, ref] of [[STDIN_PROBLEM, stdinRef], [CALL_PROBLEM, callRef]] as const) {
      for (let i = 0; i < TEXTS.length; i++) {
        const single = await critic.score(problem, TEXTS[i]);
        assertMatches(single, ref.text_ids[i], ref.values[i], `${problem.kind} text ${i}`);
        assertRoundTrip(TEXTS[i], single);
      }
      const batch = await critic.scoreMany(problem, [...TEXTS, '']);
      TEXTS.forEach((_, i) => assertMatches(batch[i], ref.text_ids[i], ref.values[i], `${problem.kind} batch row ${i}`));
      assert.deepEqual(batch[TEXTS.length].values, []);
    }
  });

  test('a prompt too long for the context is cut from the left, and says so', async () => {
    const ref = truncatedRef;
    assert.ok(ref.prompt_ids.length + ref.text_ids[0].length > 60, 'fixture prompt must exceed the limit');
    const short = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', maxContextTokens: 60 });
    try {
      const scores = await short.score(STDIN_PROBLEM, CODE);
      assertMatches(scores, ref.text_ids[0], ref.values[0], 'truncated prompt');
      assert.match(scores.notice ?? '', /prompt was cut: its first \d+ tokens were dropped .* 60-token context/);
      await assert.rejects(short.score(STDIN_PROBLEM, CODE.repeat(20)), (e: CriticError) => e.code === 'too_long' && /at most 60/.test(e.message));
    } finally {
      await short.dispose();
    }
  });
});

describe('streaming', () => {
  test('appending chunks (split inside words and emoji) equals scoring the whole text', async () => {
    const text = TEXTS[3];
    const whole = await critic.score(CALL_PROBLEM, text);
    const stream = await critic.open(CALL_PROBLEM);
    let sent = '';
    // Chunk sizes cycle so boundaries land inside BPE merges and inside surrogate pairs.
    for (let i = 0, size = 1; i < text.length; i += size, size = (size % 7) + 1) {
      const chunk = text.slice(i, i + size);
      const changed = await stream.append(chunk);
      sent += chunk;
      const current = stream.current();
      assert.equal(current.tokenIds.length, current.values.length);
      const tail = current.tokenIds.slice(current.tokenIds.length - changed.tokenIds.length);
      assert.deepEqual(changed.tokenIds, tail, 'append returns the changed tail');
      if (i % 5 === 0) {
        const fresh = await critic.score(CALL_PROBLEM, sent);
        assert.deepEqual(current.tokenIds, fresh.tokenIds);
        assert.ok(maxGap(current.values, fresh.values) < 1e-4);
      }
    }
    const final = stream.current();
    assert.deepEqual(final.tokenIds, whole.tokenIds);
    assert.deepEqual(final.charOffsets, whole.charOffsets);
    assert.ok(maxGap(final.values, whole.values) < 1e-4);
    await stream.close();
    await assert.rejects(stream.append('x'), (e: CriticError) => e.code === 'disposed');
  });
});

describe('quantised variants', () => {
  test('int8 and int4 rank candidates like fp32', async () => {
    // A random model's final value depends mostly on the last token, so the candidates end
    // differently; their fp32 values lie further apart than 4-bit rounding moves them (~0.03).
    const candidates = ['def f(a, b):\n    return a', 'x = 3', 'total += x', 'import sys', 'pass'];
    const rank = (scores: TokenScores[]) => scores.map((s, i) => [s.values[s.values.length - 1], i]).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
    const fp32 = await critic.scoreMany(STDIN_PROBLEM, candidates);
    const finals = fp32.map((s) => s.values[s.values.length - 1]).sort((a, b) => a - b);
    assert.ok(finals.every((v, i) => i === 0 || v - finals[i - 1] > 0.05), `fp32 finals too close to rank: ${finals}`);
    for (const dtype of ['int8', 'int4'] as const) {
      const quantised = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', dtype });
      try {
        assert.deepEqual(rank(await quantised.scoreMany(STDIN_PROBLEM, candidates)), rank(fp32), dtype);
      } finally {
        await quantised.dispose();
      }
    }
  });
});

describe('offsets', () => {
  test('characters split across byte-level tokens belong to the token that completes them', () => {
    const text = 'a🙂\tb';
    const bytes = [...new TextEncoder().encode(text)];
    // 'a' | F0 9F | 99 82 | '\t' 'b'
    const tokens = [bytes.slice(0, 1), bytes.slice(1, 3), bytes.slice(3, 5), bytes.slice(5)].map((b) => Uint8Array.from(b));
    assert.deepEqual(charOffsets(text, tokens), [[0, 1], [1, 1], [1, 3], [3, 5]]);
    assert.throws(() => charOffsets('abc', [Uint8Array.from([0x61])]), (e: CriticError) => e.code === 'tokenizer_unsupported');
  });

  test('scored offsets round-trip code with tabs, unicode, combining marks and emoji', async () => {
    const text = '\tdef f():\n\t\treturn "e\u0301 ñ 你好 👩‍💻 🙂🙂"  # done\r\n';
    const scores = await critic.score(STDIN_PROBLEM, text);
    assertRoundTrip(text, scores);
    // Each token's bytes = the text of its span plus the start of a character it leaves unfinished.
    const vocabulary = new ByteLevelVocabulary(JSON.parse(readFileSync(join(bundle, 'tokenizer.json'), 'utf8')));
    const encoder = new TextEncoder();
    let pending: number[] = [];
    scores.tokenIds.forEach((id, i) => {
      pending = pending.concat([...vocabulary.bytes(id)]);
      const span = [...encoder.encode(text.slice(...scores.charOffsets[i]))];
      assert.deepEqual(pending.slice(0, span.length), span, `token ${i}`);
      pending = pending.slice(span.length);
    });
    assert.deepEqual(pending, []);
    assert.ok(scores.charOffsets.some(([s, e]) => s === e), 'the tiny tokenizer splits some emoji across tokens');
  });
});

describe('bad bundles and options', () => {
  const copyBundle = (name: string) => copyFixture(bundle, join(scratch, name));

  test('missing folder, not a bundle, unknown format_version', async () => {
    let e = await loadError(join(scratch, 'nowhere'));
    assert.equal(e.code, 'bundle_missing');
    assert.match(e.message, /not found: .*nowhere.*passlens\.critic\.bundlePath/);
    e = await loadError(scratch);
    assert.equal(e.code, 'not_a_bundle');
    assert.match(e.message, /no passlens-critic\.json.*passlens_training\.export/);
    const future = copyBundle('future');
    editManifest(future, (m) => (m.format_version = 7));
    e = await loadError(future);
    assert.equal(e.code, 'unknown_format_version');
    assert.match(e.message, /format_version 7.*reads format_version 1.*Update PassLens/);
  });

  test('corrupt or mismatched ONNX', async () => {
    const corrupt = copyBundle('corrupt');
    const truncated = readFileSync(join(corrupt, 'model.onnx')).subarray(0, 5000);
    writeFileSync(join(corrupt, 'model.onnx'), truncated);
    let e = await loadError(corrupt);
    assert.equal(e.code, 'file_corrupt', 'a cut file differs from the manifest (critic.integrity.test.ts)');
    // A manifest that vouches for the broken graph: onnxruntime itself refuses it.
    editManifest(corrupt, (m) => (m.files.fp32 = { path: 'model.onnx', bytes: truncated.length, sha256: createHash('sha256').update(truncated).digest('hex') }));
    e = await loadError(corrupt);
    assert.equal(e.code, 'onnx_invalid');
    assert.match(e.message, /damaged or incomplete/);
    const otherHeads = copyBundle('other-heads');
    editManifest(otherHeads, (m) => (m.architecture.num_kv_heads = 3));
    e = await loadError(otherHeads);
    assert.equal(e.code, 'onnx_mismatch');
    assert.match(e.message, /3 key\/value heads/);
    const otherModel = copyBundle('other-model');
    editManifest(otherModel, (m) => (m.sample.values = m.sample.values.map((v) => 1 - v)));
    e = await loadError(otherModel);
    assert.equal(e.code, 'onnx_mismatch');
    assert.match(e.message, /mixes files from different exports/);
  });

  test('a tokenizer from elsewhere is refused', async () => {
    const swapped = copyBundle('swapped');
    const json = JSON.parse(readFileSync(join(swapped, 'tokenizer.json'), 'utf8'));
    json.model.merges = json.model.merges.slice(0, -30);
    writeFileSync(join(swapped, 'tokenizer.json'), JSON.stringify(json));
    const e = await loadError(swapped);
    assert.equal(e.code, 'tokenizer_mismatch');
    assert.match(e.message, /not the tokenizer this critic was exported with/);
  });

  test('an execution provider this machine lacks falls back to CPU with a message', async () => {
    const fallback = await loadCritic({ bundlePath: bundle, executionProvider: process.platform === 'win32' ? 'coreml' : 'dml' });
    try {
      assert.equal(fallback.info.provider, 'cpu');
      assert.match((fallback.info.notices ?? []).join('\n'), /execution provider needs .*Using CPU/);
      assert.equal((await fallback.score(STDIN_PROBLEM, 'print(1)')).values.length > 0, true);
    } finally {
      await fallback.dispose();
    }
    assert.equal(critic.info.provider, 'cpu');
    assert.deepEqual(critic.info.notices, []);
  });

  test('abort and dispose', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(critic.score(STDIN_PROBLEM, CODE, controller.signal), (e: Error) => isAbortError(e));
    const pending = new AbortController();
    const running = critic.scoreMany(STDIN_PROBLEM, TEXTS, pending.signal);
    pending.abort();
    await assert.rejects(running, (e: Error) => isAbortError(e));
    const own = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu' });
    await own.dispose();
    await assert.rejects(own.score(STDIN_PROBLEM, 'x'), (e: CriticError) => e.code === 'disposed');
  });
});

describe('calibration', () => {
  const CALIBRATION = { method: 'platt' as const, a: 1.7, b: -0.8 };

  /** Python's contracts.calibrate of each list of values (the training side of the rule). */
  function pythonCalibrate(values: number[][]): number[][] {
    const script = 'import json, sys\nfrom passlens_training.contracts import calibrate\nr = json.load(sys.stdin)\nprint(json.dumps([calibrate(v, r["calibration"]) for v in r["values"]]))';
    const out = execFileSync(join(repoRoot, '.venv', 'bin', 'python'), ['-c', script], { cwd: repoRoot, input: JSON.stringify({ calibration: CALIBRATION, values }) });
    return JSON.parse(out.toString('utf8')) as number[][];
  }

  test('a bundle with a calibration returns every value calibrated as Python computes it (within 1e-6)', async () => {
    const dir = join(scratch, 'calibrated');
    cpSync(bundle, dir, { recursive: true });
    const path = join(dir, 'passlens-critic.json');
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), calibration: { ...CALIBRATION, fitted_on: { rollouts: 640 } } }));
    const calibrated = await loadCritic({ bundlePath: dir, executionProvider: 'cpu' });
    try {
      assert.deepEqual(calibrated.info.calibration, CALIBRATION);
      assert.equal(critic.info.calibration, undefined, 'a bundle without one: raw values');
      const raw = await critic.scoreMany(STDIN_PROBLEM, TEXTS);
      const expected = pythonCalibrate(raw.map((s) => s.values));
      const many = await calibrated.scoreMany(STDIN_PROBLEM, TEXTS);
      many.forEach((s, i) => {
        assert.deepEqual(s.tokenIds, raw[i].tokenIds);
        assert.ok(maxGap(s.values, expected[i]) < 1e-6, `scoreMany text ${i}: ${maxGap(s.values, expected[i])}`);
        assert.ok(maxGap(s.values, raw[i].values) > 1e-3, `text ${i}: calibration changed the values`);
      });
      const single = await calibrated.score(STDIN_PROBLEM, TEXTS[2]);
      assert.ok(maxGap(single.values, expected[2]) < 1e-6, 'score');
      // A stream's appends come back calibrated too, and so does its current() view.
      const stream = await calibrated.open(STDIN_PROBLEM);
      for (let i = 0; i < TEXTS[2].length; i += 7) await stream.append(TEXTS[2].slice(i, i + 7));
      assert.ok(maxGap(stream.current().values, expected[2]) < 1e-6, 'stream');
      await stream.close();
    } finally {
      await calibrated.dispose();
    }
  });

  test('a malformed calibration is refused at load', async () => {
    for (const [name, calibration] of [['flat', { method: 'platt', a: 0, b: 1 }], ['isotonic', { method: 'isotonic', a: 1, b: 0 }]] as const) {
      const dir = join(scratch, `calibration-${name}`);
      cpSync(bundle, dir, { recursive: true });
      const path = join(dir, 'passlens-critic.json');
      writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), calibration }));
      await assert.rejects(loadCritic({ bundlePath: dir, executionProvider: 'cpu' }), (e: CriticError) => e.code === 'bad_manifest' && /"calibration"/.test(e.message));
    }
  });
});
