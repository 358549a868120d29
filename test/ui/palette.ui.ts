import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../integration/harness/workspace';
import { openPalette, quickInputRows, screenshot, workbench } from './workbench';

interface ContributedCommand {
  title: string;
  category: string;
}

suite('command palette', () => {
  test('lists every PassLens command under its category', async () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    const expected = (manifest.contributes.commands as ContributedCommand[]).map((c) => `${c.category}: ${c.title}`);
    await openPalette('PassLens: ');
    const shown = await quickInputRows();
    const missing = expected.filter((title) => !shown.some((row) => row.startsWith(title)));
    await screenshot('palette-passlens-commands');
    assert.deepEqual(missing, [], `not in the palette: ${missing.join(', ')} (shown: ${shown.join(' | ')})`);
    await workbench().page.keyboard.press('Escape');
  });
});
