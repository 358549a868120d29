/**
 * The critic's model files are checked against the manifest's sha256 before they are loaded
 * (copies of the tiny bundle, one byte flipped), and a verified hash is reused by path, size
 * and mtime (seen in the load's `verified` record and in the cache file).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCritic } from '../../src/core/critic';
import { HASH_CACHE_NAME } from '../../src/core/critic/integrity';
import { copyBundle as copyFixture, editManifest, loadError } from '../fixtures/criticBundles';
import { repoRoot, tinyCriticBundle } from '../fixtures/models';

let scratch: string;
let bundle: string;

before(() => {
  bundle = tinyCriticBundle();
  scratch = mkdtempSync(join(tmpdir(), 'passlens-integrity-'));
});

after(() => rmSync(scratch, { recursive: true, force: true }));

const copyBundle = (name: string) => copyFixture(bundle, join(scratch, name));

/** Flips one byte in the middle of `path`, keeping its size. */
function flipByte(path: string): void {
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(path, bytes);
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('one flipped byte in the model file is file_corrupt, naming the file and the fix', async () => {
  const flipped = copyBundle('flipped');
  flipByte(join(flipped, 'model.onnx'));
  const error = await loadError(flipped);
  assert.equal(error.code, 'file_corrupt');
  assert.ok(error.message.includes(join(flipped, 'model.onnx')), error.message);
  assert.match(error.message, /sha256 .* the manifest says .*Copy the whole bundle folder again, or re-export/);
});

test('an untouched copy loads and is hashed once: the second load reuses the verified hash', async () => {
  const copy = copyBundle('untouched');
  const cache = join(scratch, 'hash-cache');
  const model = join(copy, 'model.onnx');
  const first = await loadCritic({ bundlePath: copy, executionProvider: 'cpu', hashCacheDir: cache });
  await first.dispose();
  assert.deepEqual(first.info.verified, [{ path: model, how: 'hashed' }]);
  const entries = JSON.parse(readFileSync(join(cache, HASH_CACHE_NAME), 'utf8'));
  assert.deepEqual(entries[model], { size: statSync(model).size, mtimeMs: statSync(model).mtimeMs, sha256: sha256(model) });

  const second = await loadCritic({ bundlePath: copy, executionProvider: 'cpu', hashCacheDir: cache });
  await second.dispose();
  assert.deepEqual(second.info.verified, [{ path: model, how: 'cached' }]);

  // Changed afterwards (same size, new mtime): hashed again, and refused.
  flipByte(model);
  const error = await loadError(copy, { hashCacheDir: cache });
  assert.equal(error.code, 'file_corrupt');
  // Copied back in good shape: hashed again (its mtime is new) and loaded.
  cpSync(join(bundle, 'model.onnx'), model);
  const restored = await loadCritic({ bundlePath: copy, executionProvider: 'cpu', hashCacheDir: cache });
  await restored.dispose();
  assert.equal(restored.info.verified?.[0].how, 'hashed');
});

test('a model file of another size is file_corrupt before it is hashed', async () => {
  const grown = copyBundle('grown');
  writeFileSync(join(grown, 'model.onnx'), Buffer.concat([readFileSync(join(grown, 'model.onnx')), Buffer.from([0])]));
  const error = await loadError(grown);
  assert.equal(error.code, 'file_corrupt');
  assert.match(error.message, /bytes, the manifest says/);
});

test('the external-data file is checked too; a manifest without its sha256 loads with a notice', async () => {
  const external = copyBundle('external');
  const model = join(external, 'model.onnx');
  // The same graph saved with its weights in model.onnx.data, as large exports are.
  execFileSync(join(repoRoot, '.venv', 'bin', 'python'), [
    '-c',
    'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.save_model(m, sys.argv[1], save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=1024)',
    model,
  ]);
  const data = join(external, 'model.onnx.data');
  assert.ok(existsSync(data));
  editManifest(external, (m) => {
    m.files.fp32 = { path: 'model.onnx', bytes: statSync(model).size, sha256: sha256(model), external_data: 'model.onnx.data', external_data_sha256: sha256(data) };
  });
  const loaded = await loadCritic({ bundlePath: external, executionProvider: 'cpu' });
  await loaded.dispose();
  assert.deepEqual(loaded.info.verified?.map((v) => v.path), [model, data]);

  const older = copyBundle('external-older');
  cpSync(model, join(older, 'model.onnx'));
  cpSync(data, join(older, 'model.onnx.data'));
  editManifest(older, (m) => {
    m.files.fp32 = { path: 'model.onnx', bytes: statSync(model).size, sha256: sha256(model), external_data: 'model.onnx.data' };
  });
  const unchecked = await loadCritic({ bundlePath: older, executionProvider: 'cpu' });
  await unchecked.dispose();
  assert.match((unchecked.info.notices ?? []).join('\n'), /model\.onnx\.data was not checked: the manifest records no external_data_sha256/);

  flipByte(data);
  const error = await loadError(external);
  assert.equal(error.code, 'file_corrupt');
  assert.ok(error.message.includes(data), error.message);
});
