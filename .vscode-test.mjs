// `npm run test:vscode`: the extension-host suite (test/integration/suite) in a desktop
// VS Code that @vscode/test-electron downloads, for machines with internet and a display
// (or xvfb-run). CI runs the same suite offline in code-server: test/integration/run.sh.
// The workspace is a temporary copy of test/fixtures/workspace with the same generated
// settings the offline runner writes.
import { defineConfig } from '@vscode/test-cli';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const suite = 'out/test/integration/suite';
const stateDir = mkdtempSync(join(tmpdir(), 'passlens-vscode-test-'));
const workspace = join(stateDir, 'workspace');
cpSync('test/fixtures/workspace', workspace, { recursive: true });
mkdirSync(join(workspace, '.vscode'));
const settings = JSON.parse(readFileSync('test/fixtures/workspace-settings.json', 'utf8'));
settings['passlens.critic.bundlePath'] = join(stateDir, 'no-critic-here');
writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2));

export default defineConfig({
  label: 'integration',
  // In name order, as the offline runner does (activation's checks come first).
  files: readdirSync(suite).filter((name) => name.endsWith('.test.js')).sort().map((name) => `${suite}/${name}`),
  version: 'stable',
  workspaceFolder: workspace,
  launchArgs: ['--disable-extensions', '--disable-workspace-trust'],
  mocha: { ui: 'tdd', timeout: 60_000 },
});
