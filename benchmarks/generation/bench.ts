/**
 * Generator tokens/s on onnxruntime-node's CPU provider, per dtype, for one checkpoint
 * exported by both builders (passlens-train export-generator --builder genai|dynamo),
 * printed side by side. A dtype that does not load says why.
 *
 *   node --import tsx benchmarks/generation/bench.ts GENAI_DIR DYNAMO_DIR [tokens=64] [runs=3]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LocalGenerator } from '../../src/core/generation/local';
import { collectCandidates } from '../../src/core/generation/types';
import type { LoadOptions } from '../../src/core/generation/protocol';
import { buildMessages } from '../../src/core/contracts/prompt';

const [genai, dynamo, tokensArg = '64', runsArg = '3'] = process.argv.slice(2);
if (!genai || !dynamo) throw new Error('usage: bench.ts GENAI_DIR DYNAMO_DIR [tokens] [runs]');
const tokens = Number(tokensArg);
const runs = Number(runsArg);
const dtypes: Array<[LoadOptions['dtype'], string]> = [['fp32', ''], ['fp16', '_fp16'], ['q8', '_quantized'], ['q4', '_q4'], ['q4f16', '_q4f16']];
const messages = buildMessages({ question: 'Print the sum of two numbers.', kind: 'standard_input' });

async function tokensPerSecond(folder: string, dtype: LoadOptions['dtype'], suffix: string): Promise<string> {
  if (!existsSync(join(folder, 'onnx', `model${suffix}.onnx`))) return 'not built';
  const generator = new LocalGenerator({ model: folder, dtype, offlineOnly: true });
  try {
    await generator.load();
    // Greedy, a fixed length: every dtype does the same work; the first run warms up.
    const request = { messages, n: 1, temperature: 0, maxNewTokens: tokens };
    await collectCandidates(generator, request);
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const [candidate] = await collectCandidates(generator, request);
      rates.push(candidate.tokenIds.length / ((performance.now() - started) / 1000));
    }
    rates.sort((a, b) => a - b);
    return rates[Math.floor(rates.length / 2)].toFixed(1);
  } catch (error) {
    return `fails: ${(error as Error).message.slice(0, 60)}`;
  } finally {
    await generator.dispose();
  }
}

(async () => {
  const rows: string[][] = [];
  for (const [dtype, suffix] of dtypes) {
    const a = await tokensPerSecond(genai, dtype, suffix);
    const b = await tokensPerSecond(dynamo, dtype, suffix);
    const ratio = Number.isFinite(Number(a)) && Number.isFinite(Number(b)) ? (Number(a) / Number(b)).toFixed(2) + 'x' : '—';
    rows.push([dtype, a, b, ratio]);
  }
  console.log(`generator tokens/s (median of ${runs}, ${tokens} greedy tokens, batch 1, CPU provider)`);
  console.log(['dtype', 'genai builder', 'dynamo export', 'genai/dynamo'].map((h) => h.padEnd(16)).join(''));
  for (const row of rows) console.log(row.map((c) => c.padEnd(16)).join(''));
})();
