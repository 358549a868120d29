import * as assert from 'node:assert/strict';
import { resolve, sep } from 'node:path';
import * as vscode from 'vscode';
import { openFixture, passlens, waitFor } from './helpers';

/** The repository root, seen from out/test/integration/suite/. */
const repoRoot = resolve(__dirname, '..', '..', '..', '..');

suite('activation', () => {
  test('@vsix activates when a Python file is opened and exports its API', async () => {
    const extension = passlens();
    await openFixture('two_sum.py');
    await waitFor('PassLens to activate on a Python file', () => extension.isActive);
    const api = extension.exports;
    assert.ok(api.decorations, 'exports.decorations');
    assert.ok(api.scores, 'exports.scores');
    assert.ok(api.candidates, 'exports.candidates');
  });

  test('@vsix runs from the installed .vsix or the development folder, as the runner asked', () => {
    const path = passlens().extensionPath;
    if (process.env.PASSLENS_EXPECT_INSTALLED === '1') {
      assert.ok(!path.startsWith(repoRoot + sep), `expected the installed copy, got ${path}`);
      assert.match(path, /passlens\.passlens-\d+\.\d+\.\d+/);
    } else {
      assert.equal(path, process.env.PASSLENS_EXPECTED_EXTENSION_PATH ?? repoRoot);
    }
  });

  test('@vsix loads no model on activation', async () => {
    await openFixture('fizzbuzz.py');
    // Give anything started by activation a moment to show up.
    await new Promise((done) => setTimeout(done, 1000));
    // The critic and generator run in worker threads of the extension host, and would
    // load onnxruntime-node / transformers.js (the settings point at a critic bundle path).
    const report = process.report.getReport() as unknown as { workers: unknown[] };
    assert.deepEqual(report.workers, [], 'the extension host has worker threads: a model was started');
    const modelModules = Object.keys(require.cache).filter((path) => /onnxruntime-node|@huggingface[\\/]transformers/.test(path));
    assert.deepEqual(modelModules, [], 'model runtimes were loaded in the extension host');
    // Nothing was scored either (live confidence is off by default).
    for (const editor of vscode.window.visibleTextEditors) {
      assert.equal(passlens().exports.scores.state(editor.document.uri), undefined, `${editor.document.uri.path} has a score state`);
    }
  });
});
