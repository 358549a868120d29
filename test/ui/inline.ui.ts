/**
 * What a user sees of ranked inline suggestions and the candidates panel, with the
 * micro-ci critic and generator (the runner configures them) on a held-out micro problem
 * given as the file's docstring: ghost text with its rank and p(pass) in the status bar,
 * Alt+] to the next one, the ranking in the status bar's tooltip, the candidates panel
 * from the suggestion (Ctrl+Enter) and from the Generate and Rank picker's title button,
 * with Accept by mouse and by keyboard. Screenshots are artifacts.
 */
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator } from 'playwright-core';
import { COUNT_DIGITS_STATEMENT, heldOutProblemDocstring, QUOTES } from '../fixtures/problems';
import { openFile, runCommand, screenshot, workbench } from './workbench';

/** The held-out problem as the file's docstring, the cursor's line right below it. */
const SOURCE = `${QUOTES}\n${COUNT_DIGITS_STATEMENT}\n${QUOTES}\n`;

/** The candidates panel's page (the only webview open: each check starts with all editors closed). */
function panelView(): FrameLocator {
  return workbench().page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
}

/** Puts the cursor at the end of the active editor's file, with the keyboard focus in it. */
async function focusEnd(): Promise<void> {
  const { page } = workbench();
  await page.locator('.editor-instance .view-lines').first().click();
  await page.keyboard.press('Control+End');
}

async function closeAllEditors(): Promise<void> {
  await runCommand('View: Close All Editors');
}

suite('ranked inline suggestions and the candidates panel', () => {
  test('ghost text comes best first with its rank and p(pass) in the status bar; Alt+] shows the next; Ctrl+Enter opens the panel', async function () {
    this.timeout(180_000);
    const { page, workspace } = workbench();
    await closeAllEditors();
    writeFileSync(join(workspace, 'inline_here.py'), SOURCE);
    await openFile('inline_here.py');
    await focusEnd();
    await page.keyboard.press('Control+Alt+Backslash');
    const status = page.locator('.statusbar-item', { hasText: /PassLens \d+\/\d+/ });
    await status.waitFor({ timeout: 120_000 });
    await page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text').first().waitFor({ timeout: 30_000 });
    assert.match(await status.innerText(), /PassLens 1\/\d+ · p\(pass\) \d+%/);
    await screenshot('inline-ghost-text-first');
    // The spinner gives way to the sparkle once every continuation is scored (the list may re-order until then).
    await status.locator('.codicon-sparkle').waitFor({ timeout: 60_000 });
    await page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text').first().waitFor({ timeout: 10_000 });
    const first = await status.innerText();
    assert.match(first, /PassLens 1\/\d+ · p\(pass\) \d+%/);

    const count = Number(/\/(\d+)/.exec(first)![1]);
    if (count > 1) {
      await page.keyboard.press('Alt+BracketRight');
      await page.locator('.statusbar-item', { hasText: /PassLens 2\/\d+/ }).waitFor({ timeout: 10_000 });
      await screenshot('inline-ghost-text-second');
      await page.keyboard.press('Alt+BracketLeft');
      await page.locator('.statusbar-item', { hasText: /PassLens 1\/\d+/ }).waitFor({ timeout: 10_000 });
    }
    await status.hover();
    await page.locator('.monaco-hover', { hasText: "continuations by the critic's p(pass)" }).waitFor({ timeout: 10_000 });
    await screenshot('inline-ranking-tooltip');

    // Hovering left the keyboard focus in the editor, where the suggestion still shows.
    await page.mouse.move(800, 500);
    await page.keyboard.press('Control+Enter');
    const cards = panelView().locator('article');
    await cards.first().waitFor({ timeout: 30_000 });
    // The examples run in the sandbox (the test workspace is trusted).
    await panelView().locator('.verdict.pass, .verdict.fail').first().waitFor({ timeout: 30_000 });
    assert.equal(await cards.count(), count, 'one card per distinct continuation');
    const scores = (await panelView().locator('article .score').allInnerTexts()).map((s) => Number(s.replace('%', '')));
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), `best first: ${scores.join(', ')}`);
    await screenshot('candidates-panel-inline');
    await cards.first().locator('button.accept').click();
    await panelView().locator('#status', { hasText: 'Inserted' }).waitFor({ timeout: 10_000 });
    await page.locator('.editor-instance .view-line', { hasText: 'print(' }).first().waitFor({ timeout: 10_000 });
  });

  test('the picker\'s title button opens the run in the panel; arrow keys and Enter accept a candidate', async function () {
    this.timeout(180_000);
    const { page, workspace } = workbench();
    await closeAllEditors();
    writeFileSync(join(workspace, 'panel_here.py'), heldOutProblemDocstring);
    await openFile('panel_here.py');
    await focusEnd();
    await runCommand('PassLens: Generate and Rank Solutions');
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' }).first().waitFor({ timeout: 120_000 });
    // By keyboard, as the title bar's buttons are reachable: the input's hover can lie over the
    // button and take a mouse click in the headless browser.
    const panelButton = page.locator('.quick-input-widget .quick-input-titlebar a[aria-label*="Candidates panel"]').first();
    await panelButton.waitFor({ state: 'visible', timeout: 10_000 });
    await panelButton.focus();
    await page.keyboard.press('Enter');
    const cards = panelView().locator('article');
    await cards.nth(3).waitFor({ timeout: 30_000 });
    assert.equal(await cards.count(), 4);
    await panelView().locator('article .verdict.pass, article .verdict.fail').nth(3).waitFor({ timeout: 30_000 });
    const scores = (await panelView().locator('article .score').allInnerTexts()).map((s) => Number(s.replace('%', '')));
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), `best first: ${scores.join(', ')}`);
    assert.ok((await panelView().locator('.diff .add').count()) > 0, 'diffs against the file');
    // The first card has focus when the panel opens: move to the second and accept it with Enter.
    await cards.first().focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await cards.nth(1).evaluate((e) => e === e.ownerDocument.activeElement), true, 'the arrow key moved to the second card');
    await screenshot('candidates-panel-generate-and-rank');
    const code = await cards.nth(1).locator('pre.code').innerText();
    await page.keyboard.press('Enter');
    await panelView().locator('#status', { hasText: 'Inserted candidate' }).waitFor({ timeout: 10_000 });
    const firstLine = code.split('\n').find((l) => l.trim())!;
    await page.locator('.editor-instance .view-line', { hasText: firstLine.trim() }).first().waitFor({ timeout: 10_000 });
  });
});
