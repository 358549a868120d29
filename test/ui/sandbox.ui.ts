/**
 * The sandbox where no real isolation exists, as a user sees it: the judge runs with an
 * interpreter whose PATH has neither bubblewrap nor firejail (test/fixtures/sandbox.ts).
 * Without the opt-in, Generate and Rank still ranks (verdicts "not run") and says once,
 * with the judge's reason and the fix, why nothing ran. With
 * passlens.sandbox.allowWeakIsolation the verdicts come from the weak mode and say so in the
 * picker and in the Run Candidate in Sandbox panel, with one warning per session.
 */
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { microModels, repoRoot } from '../fixtures/models';
import { pythonWithoutSandboxTools } from '../fixtures/sandbox';
import { baseSettings, makeWorkspace } from '../integration/harness/workspace';
import { closeWorkspacePage, notifications, openFile, openWorkspacePage, runCommand, screenshot, workbench } from './workbench';
import { COUNT_DIGITS_STATEMENT } from '../fixtures/problems';

suite('sandbox without real isolation', () => {
  let dir: string;

  /** A workspace (trusted: the main server runs with trust off) whose judge finds no sandbox tool. */
  function workspaceWith(name: string, settings: Record<string, unknown>): string {
    const parent = join(dir, name);
    mkdirSync(parent);
    const models = microModels();
    const workspace = makeWorkspace(parent, {
      ...baseSettings(parent),
      'passlens.critic.bundlePath': models.criticBundle,
      'passlens.generator.backend': 'local',
      'passlens.generator.model': models.generator,
      'passlens.generator.dtype': 'fp32',
      'passlens.generator.candidates': 2,
      'passlens.generator.maxNewTokens': 120,
      'passlens.sandbox.pythonPath': pythonWithoutSandboxTools(parent, join(repoRoot, '.venv', 'bin', 'python')),
      ...settings,
    });
    writeFileSync(join(workspace, 'count_digits.md'), COUNT_DIGITS_STATEMENT);
    writeFileSync(join(workspace, 'count_digits.py'), '');
    return workspace;
  }

  const rows = () => workbench().page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' });

  async function generateAndRank(): Promise<string[]> {
    await runCommand('PassLens: Generate and Rank Solutions');
    await rows().first().waitFor({ timeout: 150_000 });
    return rows().allTextContents();
  }

  suiteSetup(() => {
    dir = mkdtempSync(join(tmpdir(), 'passlens-ui-sandbox-'));
  });

  suiteTeardown(async () => {
    await closeWorkspacePage();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without the opt-in: candidates are ranked with verdicts "not run", and the reason with its fix is shown once', async function () {
    this.timeout(300_000);
    await openWorkspacePage(workspaceWith('refused', {}));
    const { page } = workbench();
    await openFile('count_digits.py');
    for (let run = 1; run <= 2; run++) {
      const labels = await generateAndRank();
      assert.equal(labels.length, 2);
      for (const label of labels) assert.match(label, /not run/, label);
      if (run === 1) await screenshot('sandbox-unavailable-picker');
      await page.keyboard.press('Enter');
      await rows().first().waitFor({ state: 'hidden' });
      await page.locator('.tab', { hasText: '↔ candidate' }).first().waitFor({ state: 'detached', timeout: 10_000 });
    }
    const shown = (await notifications()).filter((text) => text.includes('cannot run candidates in a sandbox'));
    await screenshot('sandbox-unavailable-notification');
    assert.equal(shown.length, 1, `shown ${shown.length} times: ${shown.join(' | ')}`);
    assert.match(shown[0], /bubblewrap|bwrap/);
    assert.match(shown[0], /passlens\.sandbox\.allowWeakIsolation/);
    await closeWorkspacePage();
  });

  test('with passlens.sandbox.allowWeakIsolation: verdicts say "weak isolation" in the picker and the sandbox panel, warned once', async function () {
    this.timeout(300_000);
    await openWorkspacePage(workspaceWith('weak', { 'passlens.sandbox.allowWeakIsolation': true }));
    const { page } = workbench();
    await openFile('count_digits.py');
    const labels = await generateAndRank();
    for (const label of labels) assert.match(label, /\[weak isolation\]/, label);
    await screenshot('sandbox-weak-picker');
    await page.keyboard.press('Enter');
    await rows().first().waitFor({ state: 'hidden' });
    await page.locator('.tab', { hasText: '↔ candidate' }).first().waitFor({ state: 'detached', timeout: 10_000 });

    await runCommand('PassLens: Run Candidate in Sandbox');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Candidate #1' }).first().click();
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Examples from the problem' }).first().click();
    const panel = page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
    await panel.locator('#weak-isolation').waitFor({ timeout: 60_000 });
    assert.match(await panel.locator('#weak-isolation').innerText(), /weak isolation.*can escape/s);
    assert.match(await panel.locator('body').innerText(), /isolation weak \(weak isolation\)/);
    await screenshot('sandbox-weak-panel');

    const warned = (await notifications()).filter((text) => text.includes('weak isolation') && text.includes('can escape'));
    assert.equal(warned.length, 1, `warned ${warned.length} times: ${warned.join(' | ')}`);
  });
});
