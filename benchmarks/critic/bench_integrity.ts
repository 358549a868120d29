/**
 * What checking a critic bundle's model file costs: a first load hashes the whole file
 * (streamed sha256), later loads of the unchanged file reuse the verified hash (one stat and
 * a small JSON read). Prints figures and their ratio, asserts nothing.
 *
 *   node --import tsx benchmarks/critic/bench_integrity.ts [--mb 1024] [--repeats 3]
 *
 * The file is random bytes in a temporary folder (written once, outside the timings); the
 * page cache holds it after the write, so the hashed figure is hashing speed, not disk speed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyFile } from '../../src/core/critic/integrity';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const megabytes = Number(arg('mb', '1024'));
const repeats = Number(arg('repeats', '3'));

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'passlens-bench-integrity-'));
  try {
    const path = join(dir, 'model.onnx.data');
    const block = randomBytes(1 << 20);
    const hash = createHash('sha256');
    const fd = openSync(path, 'w');
    for (let i = 0; i < megabytes; i++) {
      writeSync(fd, block);
      hash.update(block);
    }
    closeSync(fd);
    const expected = hash.digest('hex');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const hashed: number[] = [];
    const cached: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const cacheDir = join(dir, `cache-${r}`);
      let started = performance.now();
      const first = await verifyFile(path, expected, { cacheDir });
      hashed.push(performance.now() - started);
      started = performance.now();
      const second = await verifyFile(path, expected, { cacheDir });
      cached.push(performance.now() - started);
      if (first.how !== 'hashed' || second.how !== 'cached') throw new Error(`unexpected: ${first.how}, ${second.how}`);
    }
    const h = median(hashed);
    const c = median(cached);
    console.log(`file: ${megabytes} MiB, ${repeats} rounds (medians)`);
    console.log(`first load, hashed:      ${h.toFixed(0).padStart(7)} ms  (${((megabytes / h) * 1000).toFixed(0)} MiB/s)`);
    console.log(`later load, cached hash: ${c.toFixed(2).padStart(7)} ms`);
    console.log(`ratio: ${(h / c).toFixed(0)}x`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
