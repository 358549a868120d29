/**
 * A throw-away copy of test/fixtures/workspace with a generated .vscode/settings.json,
 * so tests may edit files and settings freely.
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..', '..');

export function makeWorkspace(parent: string, settings: Record<string, unknown>): string {
  const folder = join(parent, 'workspace');
  cpSync(join(repoRoot, 'test', 'fixtures', 'workspace'), folder, { recursive: true });
  mkdirSync(join(folder, '.vscode'), { recursive: true });
  writeFileSync(join(folder, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
  return folder;
}

/** Settings every editor test run starts with: no network, no telemetry, quiet UI. */
export function baseSettings(stateDir: string): Record<string, unknown> {
  return {
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'security.workspace.trust.enabled': false,
    'git.enabled': false,
    'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    // The suite checks these reach the extension (settings.test.ts).
    'passlens.sandbox.timeoutSeconds': 7,
    'passlens.generator.offlineOnly': true,
    // A folder that is never created: a critic loaded at activation would show up as a worker.
    'passlens.critic.bundlePath': join(stateDir, 'no-critic-here'),
  };
}
