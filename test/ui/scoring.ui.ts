import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openFile, runCommand, screenshot, workbench } from './workbench';

const SOURCE = [
  '"""',
  'Read two integers and print their sum.',
  '',
  '-----Examples-----',
  'Input',
  '2 3',
  '',
  'Output',
  '5',
  '"""',
  'a, b = map(int, input().split())',
  '',
  'print(a + b)',
  '',
].join('\n');

suite('scoring a file', () => {
  test('Score Current File shows gutter icons on code lines and p(pass) in the status bar', async () => {
    const { page, workspace } = workbench();
    writeFileSync(join(workspace, 'sum_two.py'), SOURCE);
    await openFile('sum_two.py');
    await runCommand('PassLens: Score Current File');

    const status = page.locator('.statusbar-item', { hasText: 'p(pass)' });
    await status.waitFor({ timeout: 60_000 });
    assert.match((await status.innerText()).trim(), /p\(pass\) \d{1,3}%/);

    // Gutter icons are glyph-margin decorations: the line number at the same height
    // tells which line each one is on.
    const editor = page.locator('.editor-instance .monaco-editor').first();
    const glyphs = editor.locator('.glyph-margin-widgets .cgmr');
    await glyphs.first().waitFor({ timeout: 30_000 });
    const glyphTops = await glyphs.evaluateAll((elements) => elements.map((e) => e.getBoundingClientRect().top));
    const numbers = await editor
      .locator('.margin-view-overlays .line-numbers')
      .evaluateAll((elements) => elements.map((e) => ({ top: e.getBoundingClientRect().top, line: Number(e.textContent) })));
    const decorated = [...new Set(glyphTops.map((top) => numbers.find((n) => Math.abs(n.top - top) < 2)?.line ?? -1))].sort((a, b) => a - b);
    await screenshot('score-current-file-gutter-and-status-bar');

    // One icon on every non-blank line of the scored text (the docstring is part of it),
    // none on blank lines.
    const nonBlank = SOURCE.split('\n').flatMap((text, i) => (text.trim() === '' ? [] : [i + 1]));
    assert.deepEqual(decorated, nonBlank);
  });
});
