import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { passlens } from './helpers';

suite('runtime dependencies', () => {
  // The .vsix ships a pruned node_modules (one platform's onnxruntime binaries, no
  // onnxruntime-web): the model runtimes must still load from the extension's folder.
  // A child process keeps them out of the extension host (see "loads no model").
  test('@vsix onnxruntime-node and transformers.js load from the extension folder', async () => {
    const script = `
      const { createRequire } = require('node:module');
      const load = createRequire(require('node:path').join(process.argv[1], 'package.json'));
      const ort = load('onnxruntime-node');
      const transformers = load('@huggingface/transformers');
      const tensor = new ort.Tensor('int64', BigInt64Array.from([1n, 2n]), [1, 2]);
      console.log(JSON.stringify({
        backends: ort.listSupportedBackends().map((b) => b.name),
        tensor: tensor.dims,
        tokenizer: typeof transformers.AutoTokenizer.from_pretrained,
        ortPath: load.resolve('onnxruntime-node'),
      }));`;
    const extensionPath = passlens().extensionPath;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, extensionPath], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      timeout: 60_000,
    });
    const loaded = JSON.parse(stdout.trim().split('\n').pop()!) as { backends: string[]; tensor: number[]; tokenizer: string; ortPath: string };
    assert.ok(loaded.backends.includes('cpu'), `onnxruntime-node backends: ${loaded.backends.join(', ')}`);
    assert.deepEqual(loaded.tensor, [1, 2]);
    assert.equal(loaded.tokenizer, 'function');
    assert.ok(loaded.ortPath.startsWith(realpathSync(join(extensionPath, 'node_modules'))), `onnxruntime-node resolved outside the extension: ${loaded.ortPath}`);
  });
});
