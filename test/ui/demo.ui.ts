/**
 * The demo as `npm run demo` serves it (scripts/demo.sh): the workspace its writer makes
 * (passlens_training.micro.demo, pointed at the micro-ci models) opened in the offline
 * editor, and a user's path through it: the README, a problem's empty .py, Generate and
 * Rank from the palette, the ranked picker with p(pass) and verdicts, Enter, and live
 * gutter icons on the inserted code. Screenshots are artifacts.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { microModels, writeDemoWorkspace } from '../fixtures/models';
import { closeWorkspacePage, openFile, openWorkspacePage, runCommand, screenshot, workbench } from './workbench';

const PROBLEM = 'digits_cmp-stdin';

/**
 * The editor's decorated and non-blank lines (1-based), read off the screen: gutter icons
 * are glyph-margin decorations, the line number at the same height says which line each is on.
 */
async function gutterLines(): Promise<{ decorated: number[]; nonBlank: number[]; text: string[] }> {
  const editor = workbench().page.locator('.editor-instance .monaco-editor').first();
  const numbers = await editor
    .locator('.margin-view-overlays .line-numbers')
    .evaluateAll((elements) => elements.map((e) => ({ top: e.getBoundingClientRect().top, line: Number(e.textContent) })));
  const lineAt = (top: number) => numbers.find((n) => Math.abs(n.top - top) < 2)?.line ?? -1;
  const glyphTops = await editor.locator('.glyph-margin-widgets .cgmr').evaluateAll((elements) => elements.map((e) => e.getBoundingClientRect().top));
  const shown = await editor
    .locator('.view-lines .view-line')
    .evaluateAll((elements) => elements.map((e) => [e.getBoundingClientRect().top, (e.textContent ?? '').replace(/\u00a0/g, ' ')] as const));
  const ordered = [...shown].sort((a, b) => a[0] - b[0]);
  return {
    decorated: [...new Set(glyphTops.map(lineAt))].sort((a, b) => a - b),
    nonBlank: ordered.flatMap(([top, text]) => (text.trim() ? [lineAt(top)] : [])),
    text: ordered.map(([, text]) => text),
  };
}

const sameLines = (g: { decorated: number[]; nonBlank: number[] }) => JSON.stringify(g.decorated) === JSON.stringify(g.nonBlank);

suite('the demo workspace', () => {
  let demoDir: string;

  suiteSetup(async function () {
    this.timeout(180_000);
    demoDir = mkdtempSync(join(tmpdir(), 'passlens-demo-'));
    writeDemoWorkspace(join(demoDir, 'demo'), microModels());
    await openWorkspacePage(join(demoDir, 'demo'));
  });

  suiteTeardown(async () => {
    await closeWorkspacePage();
    rmSync(demoDir, { recursive: true, force: true });
  });

  test('lists its README and problems, generates and ranks for a problem, and the inserted code gets live gutter icons', async function () {
    this.timeout(240_000);
    const { page, workspace } = workbench();
    const settings = JSON.parse(readFileSync(join(workspace, '.vscode', 'settings.json'), 'utf8')) as Record<string, unknown>;
    const candidates = settings['passlens.generator.candidates'] as number;
    // The README with the steps is in the explorer. (The demo does not open it at start:
    // workbench.startupEditor "readme" took effect late, after the .py was open, and took
    // the focus and the palette with it.)
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'README.md' }).waitFor();

    await openFile(`${PROBLEM}.py`);
    await runCommand('PassLens: Generate and Rank Solutions');
    const rows = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' });
    await rows.first().waitFor({ timeout: 150_000 });
    const labels = await rows.evaluateAll((elements) => elements.map((e) => e.textContent ?? ''));
    assert.equal(labels.length, candidates, `the demo's ${candidates} candidates: ${labels.join(' | ')}`);
    labels.forEach((label, rank) => {
      assert.match(label, new RegExp(`#${rank + 1}\\s+p\\(pass\\)\\s+\\d{1,3}%\\s+[▁▂▃▄▅▆▇█]+`), label);
      // The problem's example ran in the sandbox for every candidate.
      assert.match(label, /passes 1 example|wrong answer \(0\/1\)|runtime error \(0\/1\)|compile error \(0\/1\)|timeout \(0\/1\)/, label);
    });
    const scores = labels.map((l) => Number(/p\(pass\)\s+(\d+)%/.exec(l)![1]));
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
    await screenshot('demo-picker');

    await page.keyboard.press('Enter');
    await rows.first().waitFor({ state: 'hidden' });
    // Live confidence is on in the demo settings: the inserted code is scored by itself.
    const status = page.locator('.statusbar-item', { hasText: 'p(pass)' });
    await status.waitFor({ timeout: 60_000 });
    await page.locator('.editor-instance .monaco-editor .glyph-margin-widgets .cgmr').first().waitFor({ timeout: 30_000 });
    // Every non-blank line of the inserted code gets its icon (polled: the decorations of
    // the rescored text land a moment after the first ones).
    let gutter = await gutterLines();
    for (const deadline = Date.now() + 30_000; !sameLines(gutter) && Date.now() < deadline; ) {
      await page.waitForTimeout(250);
      gutter = await gutterLines();
    }
    assert.ok(gutter.nonBlank.length >= 3, `the inserted code: ${gutter.text.join(' / ')}`);
    assert.deepEqual(gutter.decorated, gutter.nonBlank, 'one gutter icon per non-blank line');
    await screenshot('demo-accepted-with-live-gutter');
  });
});
