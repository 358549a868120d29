/**
 * Runs the extension-host suite in a real VS Code (code-server + headless Chromium):
 * starts code-server with the smoke-test driver, opens the workbench with a test payload
 * (extensionDevelopmentPath + extensionTestsPath), and waits for the workbench to call
 * codeAutomationExit(code) when mocha is done. Prints the suite's output and, last,
 * "N passed, N failed". Exit status: 0 only when every test passed.
 *
 * PASSLENS_EXTENSION_DIR: run another extension folder than the repository (e.g. a
 * deliberately broken build, to see the suite fail).
 * --vsix FILE: instead of the development folder, install FILE with
 * `code-server --install-extension` and run only the tests tagged @vsix against it.
 * --untrusted: workspace trust on, the workspace untrusted and its settings naming another
 * server, bundle and interpreter (harness/untrusted.ts); runs only the tests tagged
 * @untrusted (the other passes leave them out).
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { launchChromium } from './harness/browser';
import { codeServerCli, freePort, startCodeServer } from './harness/codeServer';
import { hostileSettings } from './harness/untrusted';
import { baseSettings, makeWorkspace, repoRoot } from './harness/workspace';
import type { SuiteResults } from './suite/index';

const TIMEOUT_MS = Number(process.env.PASSLENS_EDITOR_TEST_TIMEOUT_MS ?? 600_000);

async function main(): Promise<number> {
  const vsixIndex = process.argv.indexOf('--vsix');
  const vsix = vsixIndex > 0 ? process.argv[vsixIndex + 1] : undefined;
  const untrusted = process.argv.includes('--untrusted');
  const suiteIndex = join(repoRoot, 'out', 'test', 'integration', 'suite', 'index.js');
  if (!existsSync(suiteIndex)) throw new Error(`${suiteIndex} is missing: run node test/integration/build.mjs`);

  const stateDir = mkdtempSync(join(tmpdir(), 'passlens-editor-'));
  const resultsPath = join(stateDir, 'results.json');
  const keep = process.env.PASSLENS_KEEP_STATE === '1';
  try {
    const env: Record<string, string> = { PASSLENS_TEST_RESULTS: resultsPath };
    let settings = baseSettings(stateDir);
    if (untrusted) {
      // The suite listens on this port and counts what reaches it.
      const port = await freePort();
      env.PASSLENS_HOSTILE_PORT = String(port);
      env.PASSLENS_TEST_PASS = 'untrusted';
      settings = { ...settings, ...hostileSettings(port) };
    }
    const workspace = makeWorkspace(stateDir, settings);
    if (vsix) {
      console.log(await codeServerCli(stateDir, ['--install-extension', vsix]));
      env.PASSLENS_TEST_GREP = '@vsix';
      env.PASSLENS_EXPECT_INSTALLED = '1';
    }
    // The workbench runs extensionTestsPath only along with an extension under
    // development: for the .vsix that is an empty placeholder, so the installed
    // PassLens is the one the tests see.
    const developmentPath = vsix ? placeholderExtension(stateDir) : (process.env.PASSLENS_EXTENSION_DIR ?? repoRoot);
    env.PASSLENS_EXPECTED_EXTENSION_PATH = developmentPath;
    const server = await startCodeServer({ stateDir, smokeTestDriver: true, env, workspaceTrust: untrusted });
    const remote = (path: string) => `vscode-remote://127.0.0.1:${server.port}${path}`;
    const payload = [
      ['extensionDevelopmentPath', remote(developmentPath)],
      ['extensionTestsPath', remote(suiteIndex)],
    ];
    const url = `${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const exitCode = new Promise<number>((resolve) => {
        void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code));
      });
      // The workbench's and extension host's log (mocha's spec output included) is long:
      // it goes to a file, the console gets the per-test lines and failures.
      const logDir = join(repoRoot, 'test-results', 'editor-logs');
      mkdirSync(logDir, { recursive: true });
      const workbenchLog = join(logDir, `integration${vsix ? '-vsix' : untrusted ? '-untrusted' : ''}-workbench.log`);
      writeFileSync(workbenchLog, '');
      await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
        appendFileSync(workbenchLog, `[${type}] ${format(...(Array.isArray(args) ? args : [args]))}\n`);
      });
      console.log(`workbench log: ${workbenchLog}`);
      await page.goto(url);
      const timedOut = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`suite did not finish within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS).unref(),
      );
      const code = await Promise.race([exitCode, timedOut]);
      await browser.close();
      return report(resultsPath, code);
    } finally {
      await browser.close();
      server.stop();
    }
  } finally {
    if (keep) console.log(`state kept in ${stateDir}`);
    else rmSync(stateDir, { recursive: true, force: true });
  }
}

function placeholderExtension(stateDir: string): string {
  const folder = join(stateDir, 'vsix-test-host');
  mkdirSync(folder);
  const manifest = { name: 'passlens-vsix-test-host', publisher: 'passlens-tests', version: '0.0.0', engines: { vscode: '*' } };
  writeFileSync(join(folder, 'package.json'), JSON.stringify(manifest));
  return folder;
}

function report(resultsPath: string, exitCode: number): number {
  if (!existsSync(resultsPath)) {
    // The suite never ran (e.g. the extension or the suite failed to load).
    console.log(`the extension host exited with ${exitCode} and wrote no results`);
    console.log('0 passed, 1 failed');
    return 1;
  }
  const results = JSON.parse(readFileSync(resultsPath, 'utf8')) as SuiteResults;
  for (const line of results.lines) console.log(`  ${line}`);
  for (const failure of results.failures) console.log(`\nFAILED: ${failure.title}\n${failure.error}`);
  // A non-zero exit with no failing test (e.g. a crash after the run) still fails.
  const failed = results.failed + (exitCode !== 0 && results.failed === 0 ? 1 : 0);
  console.log(`${results.passed} passed, ${failed} failed`);
  return failed === 0 && results.passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
