/**
 * Guided search as a user sees it: a workspace whose settings choose
 * passlens.search.strategy = guided (micro-ci models), Generate and Rank on a held-out micro
 * problem, and a picker whose rows say which candidates the critic stopped, at how many
 * tokens, below the finished ones. Screenshot as artifact.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { microModels } from '../fixtures/models';
import { baseSettings, makeWorkspace } from '../integration/harness/workspace';
import { heldOutProblemDocstring } from '../fixtures/problems';
import { closeWorkspacePage, openFile, openWorkspacePage, runCommand, screenshot, workbench } from './workbench';

const SOURCE = heldOutProblemDocstring;
const CANDIDATES = 4;
const INTERVAL = 32;

suite('guided generation', () => {
  let dir: string;

  suiteSetup(async function () {
    this.timeout(180_000);
    dir = mkdtempSync(join(tmpdir(), 'passlens-guided-'));
    const models = microModels();
    // Its own workspace, so the strategy applies from the start (and the other checks keep best-of-n).
    const workspace = makeWorkspace(dir, {
      ...baseSettings(dir),
      'passlens.critic.bundlePath': models.criticBundle,
      'passlens.generator.backend': 'local',
      'passlens.generator.model': models.generator,
      'passlens.generator.dtype': 'fp32',
      'passlens.generator.offlineOnly': true,
      'passlens.generator.candidates': CANDIDATES,
      'passlens.generator.temperature': 1.0,
      'passlens.generator.maxNewTokens': 200,
      'passlens.search.strategy': 'guided',
      'passlens.search.guided.interval': INTERVAL,
      'passlens.search.guided.pruneFraction': 0.5,
      'passlens.search.guided.warmupTokens': 0,
      'passlens.search.guided.rebranch': false,
    });
    writeFileSync(join(workspace, 'guided_here.py'), SOURCE);
    await openWorkspacePage(workspace);
  });

  suiteTeardown(async () => {
    await closeWorkspacePage();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the picker shows which candidates were pruned and at how many tokens, after the finished ones', async function () {
    this.timeout(240_000);
    const { page } = workbench();
    await openFile('guided_here.py');
    await runCommand('PassLens: Generate and Rank Solutions');
    const rows = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' });
    await rows.first().waitFor({ timeout: 150_000 });
    const labels = await rows.evaluateAll((elements) => elements.map((e) => e.textContent ?? ''));
    assert.equal(labels.length, CANDIDATES, labels.join(' | '));
    // Micro responses run past 32 tokens: after the first round two of four stop, after the next one of two.
    const pruned = labels.filter((l) => /pruned at \d+ tokens/.test(l));
    assert.ok(pruned.length >= 2, labels.join(' | '));
    for (const label of pruned) {
      const at = Number(/pruned at (\d+) tokens/.exec(label)![1]);
      const spent = Number(/(\d+) tokens\s+·\s+pruned/.exec(label)![1]);
      assert.ok(at % INTERVAL === 0 && spent >= at, label);
      assert.match(label, /not run/, 'cut-off code is not run on the examples');
    }
    const firstPruned = labels.findIndex((l) => /pruned at/.test(l));
    assert.ok(firstPruned >= 1 && labels.slice(firstPruned).every((l) => /pruned at/.test(l)), `finished candidates first: ${labels.join(' | ')}`);
    assert.match(labels[0], /passes|wrong answer|runtime error|compile error|timeout/, 'the finished candidate ran on the example');
    await screenshot('guided-picker-with-pruned-candidates');
    await page.keyboard.press('Escape');
  });
});
