import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { openFixture, passlens, waitFor } from './helpers';

interface ContributedCommand {
  command: string;
  title: string;
  category?: string;
}

suite('commands', () => {
  suiteSetup(async () => {
    await openFixture('two_sum.py');
    await waitFor('PassLens to activate', () => passlens().isActive);
  });

  test('@vsix every command in contributes.commands is registered', async () => {
    const contributed = (passlens().packageJSON.contributes.commands as ContributedCommand[]).map((c) => c.command);
    assert.ok(contributed.length >= 8, `only ${contributed.length} contributed commands`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  test('every contributed command is titled and in the PassLens category', () => {
    for (const command of passlens().packageJSON.contributes.commands as ContributedCommand[]) {
      assert.equal(command.category, 'PassLens', command.command);
      assert.ok(command.title.trim().length > 0, `${command.command} has no title`);
    }
  });

  test('Toggle Live Confidence flips the setting and flips it back', async () => {
    const config = () => vscode.workspace.getConfiguration('passlens');
    const before = config().get<boolean>('liveConfidence.enabled');
    assert.equal(typeof before, 'boolean');
    await vscode.commands.executeCommand('passlens.toggleLiveConfidence');
    await waitFor('liveConfidence.enabled to flip', () => config().get<boolean>('liveConfidence.enabled') === !before);
    await vscode.commands.executeCommand('passlens.toggleLiveConfidence');
    await waitFor('liveConfidence.enabled to flip back', () => config().get<boolean>('liveConfidence.enabled') === before);
  });
});
