/**
 * A throw-away copy of test/fixtures/workspace with a generated .vscode/settings.json,
 * so tests may edit files and settings freely.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..', '..', '..');

export function makeWorkspace(parent: string, settings: Record<string, unknown>): string {
  const folder = join(parent, 'workspace');
  cpSync(join(repoRoot, 'test', 'fixtures', 'workspace'), folder, { recursive: true });
  mkdirSync(join(folder, '.vscode'), { recursive: true });
  writeFileSync(join(folder, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));
  return folder;
}

/**
 * Settings every editor test run starts with (test/fixtures/workspace-settings.json: no
 * network, no telemetry, a quiet UI, and values settings.test.ts expects to see), plus a
 * critic bundle path that is never created: a critic loaded at activation would show up
 * as a worker thread ("loads no model on activation").
 */
export function baseSettings(stateDir: string): Record<string, unknown> {
  const settings = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'workspace-settings.json'), 'utf8'));
  return { ...settings, 'passlens.critic.bundlePath': join(stateDir, 'no-critic-here') };
}
