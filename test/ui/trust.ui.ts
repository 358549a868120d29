/**
 * Workspace trust and servers, as a user meets them, in a workbench with workspace trust on
 * (a code-server of its own). The workspace's settings name a generator server (a loopback
 * server this check runs, which counts requests and streams OpenAI-style answers); the
 * user's settings name the micro-ci models. Untrusted, the workspace's server is ignored;
 * once trusted through the Workspace Trust editor, the first Generate and Rank raises the
 * real modal naming the server before anything is sent: Cancel sends nothing (and holds
 * for the window), Allow sends, and an allowed server is not asked about again.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { microModels } from '../fixtures/models';
import { baseSettings, makeWorkspace } from '../integration/harness/workspace';
import { closeWorkspacePage, openFile, openWorkspacePage, runCommand, screenshot, workbench } from './workbench';
import { COUNT_DIGITS_STATEMENT } from '../fixtures/problems';

const ANSWER = '```python\nn, d = input().split()\nprint(sum(c >= d for c in n))\n```';

suite('workspace trust and servers', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  const requests: string[] = [];

  suiteSetup(async function () {
    this.timeout(180_000);
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        requests.push(`${req.method} ${req.url}`);
        const n = Number((JSON.parse(raw || '{}') as { n?: number }).n ?? 1);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (let index = 0; index < n; index++) {
          res.write(`data: ${JSON.stringify({ choices: [{ index, delta: { content: ANSWER }, finish_reason: 'stop' }] })}\n\n`);
        }
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'passlens-ui-trust-ws-'));
    // The workspace names only the generator server; the critic is the user's (baseSettings'
    // missing bundle path is for the main workbench, left out here).
    const base = baseSettings(dir);
    delete base['passlens.critic.bundlePath'];
    const workspace = makeWorkspace(dir, {
      ...base,
      'passlens.generator.backend': 'openai',
      'passlens.generator.serverUrl': `${origin}/v1`,
      'passlens.generator.model': 'served-model',
    });
    writeFileSync(join(workspace, 'count_digits.md'), COUNT_DIGITS_STATEMENT);
    writeFileSync(join(workspace, 'count_digits.py'), '');
    const models = microModels();
    await openWorkspacePage(workspace, {
      workspaceTrust: true,
      userSettings: {
        ...baseSettings(dir),
        'passlens.critic.bundlePath': models.criticBundle,
        'passlens.generator.backend': 'local',
        'passlens.generator.model': models.generator,
        'passlens.generator.dtype': 'fp32',
        'passlens.generator.offlineOnly': true,
        'passlens.generator.candidates': 2,
        'passlens.generator.maxNewTokens': 120,
      },
    });
  });

  suiteTeardown(async () => {
    await closeWorkspacePage();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pickerRows = () => workbench().page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' });
  const dialog = () => workbench().page.locator('.monaco-dialog-box');

  /** Dismisses the picker and waits for Generate and Rank to end (its diff previews closed). */
  async function closePicker(): Promise<void> {
    const { page } = workbench();
    await page.keyboard.press('Escape');
    await pickerRows().first().waitFor({ state: 'hidden' });
    await page.locator('.tab', { hasText: '↔ candidate' }).first().waitFor({ state: 'detached', timeout: 10_000 });
  }

  test('untrusted: Restricted Mode, and Generate and Rank runs on the user\'s generator; the workspace\'s server gets nothing', async function () {
    this.timeout(180_000);
    const { page } = workbench();
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    await openFile('count_digits.py');
    await runCommand('PassLens: Generate and Rank Solutions');
    await pickerRows().first().waitFor({ timeout: 150_000 });
    assert.equal(await pickerRows().count(), 2);
    await screenshot('trust-untrusted-picker');
    await closePicker();
    assert.deepEqual(requests, [], 'the workspace\'s server was contacted while the workspace was untrusted');
  });

  test('trusted: the first request to the workspace\'s server waits for a modal naming it; Cancel sends nothing, Allow sends, and it is asked once', async function () {
    this.timeout(300_000);
    const { page } = workbench();
    await runCommand('Workspaces: Manage Workspace Trust');
    await page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$/ }).first().click();
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ state: 'detached', timeout: 30_000 });
    await openFile('count_digits.py');

    await runCommand('PassLens: Generate and Rank Solutions');
    await dialog().waitFor({ timeout: 60_000 });
    const question = await dialog().innerText();
    assert.ok(question.includes(origin), question);
    assert.match(question, /problem statement and the code/);
    assert.match(question, /Nothing has been sent yet/);
    await screenshot('trust-new-origin-modal');
    assert.deepEqual(requests, [], 'a request went out before the user answered');
    await dialog().locator('.monaco-button', { hasText: 'Cancel' }).click();
    await dialog().waitFor({ state: 'detached' });
    await page.waitForTimeout(2000);
    assert.deepEqual(requests, [], 'declining sent something');

    // The refusal holds for this window: the next run does not ask and sends nothing.
    await runCommand('PassLens: Generate and Rank Solutions');
    await page.waitForTimeout(5000);
    assert.equal(await dialog().count(), 0, 'asked again in the same window after a refusal');
    assert.deepEqual(requests, []);

    // It is not stored: after a reload the question comes back.
    await page.reload();
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
    await openFile('count_digits.py');
    await runCommand('PassLens: Generate and Rank Solutions');
    await dialog().waitFor({ timeout: 60_000 });
    assert.deepEqual(requests, []);
    await dialog().locator('.monaco-button', { hasText: 'Allow' }).click();
    await pickerRows().first().waitFor({ timeout: 150_000 });
    assert.ok(requests.length > 0 && requests.every((r) => r === 'POST /v1/chat/completions'), requests.join(', '));
    assert.match((await pickerRows().allTextContents()).join('\n'), /p\(pass\)/);
    await closePicker();

    const before = requests.length;
    await runCommand('PassLens: Generate and Rank Solutions');
    await pickerRows().first().waitFor({ timeout: 150_000 });
    assert.equal(await dialog().count(), 0, 'an allowed server was asked about again');
    assert.ok(requests.length > before);
    await closePicker();
  });
});
