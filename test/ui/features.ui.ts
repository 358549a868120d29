/**
 * What a user sees of Generate and Rank and the confidence curve, with the micro-ci
 * critic and generator (the runner configures them) on a held-out micro problem given as
 * the file's docstring: the best-of-n picker (ranked rows with p(pass), sparkline and the
 * example's verdict, a diff preview), and the curve webview. Screenshots are artifacts.
 */
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUOTES, heldOutProblemDocstring } from '../fixtures/problems';
import { openFile, runCommand, screenshot, workbench } from './workbench';

// A held-out micro problem (as the demo workspace has it), in the file's docstring.
const SOURCE = heldOutProblemDocstring;
const CANDIDATES = 4; // passlens.generator.candidates in runner.ts

suite('generate, rank and the curve', () => {
  test('the best-of-n picker lists N ranked candidates with p(pass), sparkline and verdict', async function () {
    this.timeout(120_000);
    const { page, workspace } = workbench();
    writeFileSync(join(workspace, 'generate_here.py'), SOURCE);
    await openFile('generate_here.py');
    // The cursor stays on line 1, inside the docstring: the code must still go below it.
    await runCommand('PassLens: Generate and Rank Solutions');
    const rows = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' });
    await rows.first().waitFor({ timeout: 90_000 });
    const labels = await rows.evaluateAll((elements) => elements.map((e) => e.textContent ?? ''));
    assert.equal(labels.length, CANDIDATES, labels.join(' | '));
    labels.forEach((label, rank) => {
      assert.match(label, new RegExp(`#${rank + 1}\\s+p\\(pass\\)\\s+\\d{1,3}%\\s+[▁▂▃▄▅▆▇█]+`), label);
      assert.match(label, /passes|wrong answer|runtime error|compile error|timeout|error/, `no sandbox verdict in: ${label}`);
    });
    const scores = labels.map((l) => Number(/p\(pass\)\s+(\d+)%/.exec(l)![1]));
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
    // Moving through the list previews the candidate as a diff.
    await page.locator('.tab', { hasText: '↔ candidate' }).first().waitFor({ timeout: 30_000 });
    await screenshot('generate-and-rank-picker-with-diff-preview');
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' }).first().waitFor({ state: 'hidden' });
    await page.locator('.tab', { hasText: '↔ candidate' }).first().waitFor({ state: 'detached', timeout: 10_000 });
    // The statement is intact: its lines come first and in order, the code after them.
    // Monaco positions line elements absolutely: order them by their top.
    const shown = await page
      .locator('.editor-instance .monaco-editor')
      .first()
      .locator('.view-lines .view-line')
      .evaluateAll((elements) => elements.map((e) => [parseFloat((e as { style: { top: string } }).style.top), e.textContent ?? ''] as const));
    const text = [...shown].sort((a, b) => a[0] - b[0]).map(([, line]) => line.replace(/\u00a0/g, ' ')).join('\n');
    assert.ok(text.includes('Output\n7\n' + QUOTES), text);
    await screenshot('generate-and-rank-accepted');
  });

  test('the confidence curve plots the scored file beside the editor, with a 0.5 line', async function () {
    this.timeout(90_000);
    const { page } = workbench();
    await openFile('generate_here.py');
    await runCommand('PassLens: Score Current File');
    await page.locator('.statusbar-item', { hasText: 'p(pass)' }).waitFor({ timeout: 60_000 });
    await runCommand('PassLens: Show Confidence Curve');
    const view = page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
    await view.locator('svg polyline.curve').waitFor({ timeout: 30_000 });
    const points = await view.locator('svg circle.pt').count();
    assert.ok(points > 5, `${points} points on the curve`);
    assert.equal(await view.locator('svg line.half').count(), 1, 'one 0.5 line');
    assert.match(await view.locator('#final').innerText(), /p\(pass\) \d+\.\d% · \d+ tokens/);
    await screenshot('confidence-curve');
  });
});
