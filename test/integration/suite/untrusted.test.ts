/**
 * An untrusted workspace (the runner's --untrusted pass: workspace trust on, the folder not
 * trusted) whose .vscode/settings.json names another generator server, critic server,
 * critic bundle and interpreter (harness/untrusted.ts). VS Code ignores those values until
 * trust, and PassLens, configured by the user's own settings (the micro-ci models), scores
 * and generates without a single request reaching the workspace's server, which this suite
 * runs on 127.0.0.1 and counts. After trust, a server PassLens has not been allowed to
 * contact asks first: test/ui/trust.ui.ts drives that modal in the workbench.
 */
import * as assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as vscode from 'vscode';
import type { PassLensApi } from '../../../src/extension';
import { microModels } from '../../fixtures/models';
import { hostileSettings } from '../harness/untrusted';
import { passlens, waitFor, workspaceFile } from './helpers';
import { COUNT_DIGITS_STATEMENT } from '../../fixtures/problems';

suite('untrusted workspace', () => {
  const port = Number(process.env.PASSLENS_HOSTILE_PORT);
  const workspaceValues = hostileSettings(port);
  const reached: string[] = [];
  let server: Server;
  let api: PassLensApi;
  const user = () => vscode.workspace.getConfiguration('passlens');
  const userValues: Record<string, unknown> = {};

  suiteSetup(async function () {
    this.timeout(120_000);
    assert.ok(port > 0, 'PASSLENS_HOSTILE_PORT is not set: run through the runner with --untrusted');
    server = createServer((req, res) => {
      reached.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    // The user's own settings (user level): the micro-ci critic and generator, run locally.
    const models = microModels();
    Object.assign(userValues, {
      'critic.backend': 'local',
      'critic.bundlePath': models.criticBundle,
      'generator.backend': 'local',
      'generator.model': models.generator,
      'generator.dtype': 'fp32',
      'generator.candidates': 3,
      'generator.maxNewTokens': 120,
    });
    for (const [key, value] of Object.entries(userValues)) await user().update(key, value, vscode.ConfigurationTarget.Global);
    api = await passlens().activate();
  });

  suiteTeardown(async () => {
    for (const key of Object.keys(userValues)) await user().update(key, undefined, vscode.ConfigurationTarget.Global);
    server?.close();
  });

  test('@untrusted the workspace is untrusted, and its values of every restricted setting are ignored', () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const restricted: string[] = passlens().packageJSON.capabilities.untrustedWorkspaces.restrictedConfigurations;
    for (const key of Object.keys(workspaceValues)) assert.ok(restricted.includes(key), `${key} is not a restricted setting`);
    const file = JSON.parse(readFileSync(workspaceFile('.vscode/settings.json').fsPath, 'utf8')) as Record<string, unknown>;
    const config = vscode.workspace.getConfiguration();
    for (const [key, value] of Object.entries(workspaceValues)) {
      assert.deepEqual(file[key], value, `${key}: the workspace's settings file sets it`);
      const seen = config.inspect(key);
      // VS Code withholds a restricted setting's workspace value, even from inspect, until trust.
      assert.equal(seen?.workspaceValue, undefined, `${key}: the workspace value is visible`);
      const effective = seen?.globalValue !== undefined ? seen.globalValue : seen?.defaultValue;
      assert.deepEqual(config.get(key), effective, `${key}: the workspace value must be ignored until trust`);
      assert.notDeepEqual(config.get(key), value, key);
    }
    // A setting that steers nothing still comes from the workspace: the file was read.
    assert.equal(config.get('passlens.sandbox.timeoutSeconds'), 7);
  });

  test('@untrusted scoring and Generate and Rank run on the user\'s models; nothing reaches the workspace\'s server', async function () {
    this.timeout(240_000);
    writeFileSync(workspaceFile('count_digits.md').fsPath, COUNT_DIGITS_STATEMENT);
    const uri = workspaceFile('count_digits.py');
    writeFileSync(uri.fsPath, 'n, d = map(int, input().split())\nprint(sum(int(c) >= d for c in str(n)))\n');
    try {
      const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
      await vscode.commands.executeCommand('passlens.scoreCurrentFile');
      const score = await waitFor('the file to be scored by the user\'s critic', () => api.scores.score(editor.document.uri), 120_000);
      assert.ok(score.scores.values.length > 0);

      api.candidates.clear();
      await editor.edit((edit) => edit.replace(new vscode.Range(0, 0, editor.document.lineCount, 0), ''));
      const running = vscode.commands.executeCommand('passlens.generateAndRank');
      let settled = false;
      void Promise.resolve(running).finally(() => (settled = true));
      const run = await waitFor('ranked candidates from the user\'s generator', () => api.candidates.last, 180_000);
      await waitFor('the picker to close', async () => {
        if (settled) return true;
        await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return settled || undefined;
      });
      assert.equal(run.candidates.length, 3);
      // Untrusted: model-written code is not run, not even by the user's interpreter.
      assert.ok(run.candidates.every((c) => c.judged === undefined), 'a candidate was judged in an untrusted workspace');
      assert.deepEqual(reached, [], 'requests reached the workspace\'s server');
    } finally {
      rmSync(uri.fsPath, { force: true });
    }
  });
});
