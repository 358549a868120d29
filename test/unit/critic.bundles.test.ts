/**
 * Critic bundles whose weights live in `.data` files beside each graph, the layout every
 * bundle past protobuf's 2 GB limit has: the tiny model forced onto it (always), and the
 * Phi-4-mini-width model with the o200k tokenizer, 3.3 GB of fp32 weights (opt-in:
 * PASSLENS_PHI4_MINI_WIDTH=1; its build takes minutes and ~5 GB of memory, cached).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCritic } from '../../src/core/critic';
import type { Critic, CriticManifest, TokenScores } from '../../src/core/critic';
import type { Problem } from '../../src/core/problem/types';
import { buildMessages } from '../../src/core/contracts/prompt';
import { criticReferences, phi4MiniWidthCriticBundle, tinyExternalDataCriticBundle } from '../fixtures/models';

const PROBLEM: Problem = { question: 'Read n numbers and print their sum.', kind: 'standard_input' };
const TEXTS = ['def solve(nums):\n\ttotal = 0\n    for x in nums:  # café 🙂\n        total += x\n    return total\n', 'n = int(input())\nprint(n * 2)\n'];

function maxGap(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length, 'same number of values');
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i])));
}

function manifestOf(bundle: string): CriticManifest {
  return JSON.parse(readFileSync(join(bundle, 'passlens-critic.json'), 'utf8')) as CriticManifest;
}

/** Scores TEXTS with every variant of `bundle`: fp32 within 1e-4 of PyTorch, the others close and in fp32's order. */
async function checkBundle(bundle: string, variantTolerance: number): Promise<void> {
  const manifest = manifestOf(bundle);
  let fp32: TokenScores[] = [];
  for (const dtype of Object.keys(manifest.files) as Array<keyof CriticManifest['files']>) {
    const entry = manifest.files[dtype]!;
    assert.ok(entry.external_data && existsSync(join(bundle, entry.external_data)), `${entry.path} keeps its weights in ${entry.path}.data`);
    const critic: Critic = await loadCritic({ bundlePath: bundle, executionProvider: 'cpu', dtype });
    try {
      const scores = await critic.scoreMany(PROBLEM, TEXTS);
      if (dtype === 'fp32') {
        const refs = criticReferences(bundle, [{ messages: buildMessages(PROBLEM, critic.info.templates), texts: TEXTS }])[0];
        scores.forEach((s, i) => {
          assert.deepEqual(s.tokenIds, refs.text_ids[i], `text ${i}: token ids`);
          const gap = maxGap(s.values, refs.values[i]);
          assert.ok(gap < 1e-4, `text ${i}: fp32 differs from PyTorch by ${gap}`);
        });
        fp32 = scores;
      } else {
        scores.forEach((s, i) => {
          const gap = maxGap(s.values, fp32[i].values);
          assert.ok(gap < variantTolerance, `${dtype} text ${i}: differs from fp32 by ${gap}`);
        });
      }
    } finally {
      await critic.dispose();
    }
  }
}

describe('bundles with external data', () => {
  test('the tiny critic with every graph on .data files loads and scores like PyTorch (fp32) and like fp32 (fp16, int8, int4)', async () => {
    await checkBundle(tinyExternalDataCriticBundle(), 0.1);
  });

  test('the Phi-4-mini-width critic (3.3 GB fp32, o200k tokenizer) scores like PyTorch', { skip: !process.env.PASSLENS_PHI4_MINI_WIDTH && 'opt-in: PASSLENS_PHI4_MINI_WIDTH=1 (builds a 3.3 GB model: minutes, ~5 GB memory)' }, async (t) => {
    const bundle = phi4MiniWidthCriticBundle();
    const manifest = manifestOf(bundle);
    assert.equal(manifest.architecture.vocab_size, 200064);
    assert.ok(statSync(join(bundle, 'model.onnx.data')).size > 2 ** 31, 'past protobuf 2 GB limit');
    await checkBundle(bundle, 0.1);
    t.diagnostic(`peak RSS of this test process (critics in worker threads): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  });
});
