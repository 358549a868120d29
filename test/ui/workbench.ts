/**
 * The workbench the UI checks drive: code-server with PassLens from the development
 * folder (smoke-test driver on, so the payload's extensionDevelopmentPath is honoured;
 * it also suppresses notification toasts), a temporary workspace and headless Chromium.
 * The runner starts one per run; checks reach it through workbench().
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../integration/harness/browser';
import { startCodeServer, type CodeServer } from '../integration/harness/codeServer';
import { baseSettings, makeWorkspace, repoRoot } from '../integration/harness/workspace';

export const screenshotsDir = join(repoRoot, 'test-results', 'screenshots');

export interface Workbench {
  page: Page;
  /** The workspace folder: a temporary copy of test/fixtures/workspace, or the one openWorkspacePage() opened. */
  workspace: string;
}

let current: (Workbench & { browser: Browser; server: CodeServer; stateDir: string; logPath: string }) | undefined;

export function workbench(): Workbench {
  if (!current) throw new Error('the workbench is not running (checks run through test/ui/run.sh)');
  return current;
}

export async function startWorkbench(settings: Record<string, unknown>): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'passlens-ui-'));
  const workspace = makeWorkspace(stateDir, { ...baseSettings(stateDir), ...settings });
  const server = await startCodeServer({ stateDir, smokeTestDriver: true });
  const browser = await launchChromium();
  const logDir = join(repoRoot, 'test-results', 'editor-logs');
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, 'ui-workbench.log');
  writeFileSync(logPath, '');
  current = { browser, server, stateDir, logPath, workspace, page: await browser.newPage({ viewport: { width: 1600, height: 1000 } }) };
  await loadWorkbench(current.page, workspace);
}

/** Opens the workbench on `folder` in `page`, with PassLens from the development folder, and waits for its explorer. */
async function loadWorkbench(page: Page, folder: string): Promise<void> {
  const { server, logPath } = current!;
  // The browser console (the workbench's log) helps explain a failed check.
  page.on('console', (message) => appendFileSync(logPath, `[${message.type()}] ${message.text()}\n`));
  const payload = [['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${server.port}${repoRoot}`]];
  await page.goto(`${server.url}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  // The explorer lists the workspace once the remote file system answers.
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
}

let mainWindow: (Workbench & { server: CodeServer }) | undefined;
let ownServer: { server: CodeServer; stateDir: string } | undefined;

export interface WorkspacePageOptions {
  /**
   * Workspace trust on: the folder opens untrusted (Restricted Mode) until trusted in the
   * Workspace Trust editor. Needs a server of its own (the main one runs with trust off).
   */
  workspaceTrust?: boolean;
  /** User settings of that server (only with workspaceTrust). */
  userSettings?: Record<string, unknown>;
}

/**
 * Opens another workspace folder (its own .vscode/settings.json applies from the start)
 * in a second workbench page of the same browser (and server, unless `options` asks for
 * workspace trust); workbench() and the helpers below drive it until closeWorkspacePage().
 */
export async function openWorkspacePage(folder: string, options: WorkspacePageOptions = {}): Promise<void> {
  const main = current!;
  mainWindow = { page: main.page, workspace: main.workspace, server: main.server };
  let server = main.server;
  if (options.workspaceTrust) {
    const stateDir = mkdtempSync(join(tmpdir(), 'passlens-ui-trust-'));
    server = await startCodeServer({ stateDir, smokeTestDriver: true, workspaceTrust: true, userSettings: options.userSettings });
    ownServer = { server, stateDir };
  }
  const page = await main.browser.newPage({ viewport: { width: 1600, height: 1000 } });
  Object.assign(main, { page, workspace: folder, server });
  await loadWorkbench(page, folder);
}

export async function closeWorkspacePage(): Promise<void> {
  if (!current || !mainWindow) return;
  const page = current.page;
  Object.assign(current, mainWindow);
  mainWindow = undefined;
  await page.close();
  if (ownServer) {
    ownServer.server.stop();
    if (process.env.PASSLENS_KEEP_STATE !== '1') rmSync(ownServer.stateDir, { recursive: true, force: true });
    ownServer = undefined;
  }
}

/** The texts of the notifications in the notification center (toasts are off under the smoke-test driver). */
export async function notifications(): Promise<string[]> {
  const { page } = workbench();
  await runCommand('Notifications: Show Notifications');
  const center = page.locator('.notifications-center');
  await center.waitFor();
  const rows = center.locator('.notifications-list-container .monaco-list-row');
  const texts = (await rows.count()) ? await rows.evaluateAll((elements) => elements.map((e) => e.textContent ?? '')) : [];
  await page.keyboard.press('Escape');
  return texts;
}

export async function stopWorkbench(): Promise<void> {
  if (!current) return;
  const { browser, server, stateDir } = current;
  current = undefined;
  await browser.close().catch(() => undefined);
  server.stop();
  if (process.env.PASSLENS_KEEP_STATE !== '1') rmSync(stateDir, { recursive: true, force: true });
}

export async function screenshot(name: string): Promise<string> {
  mkdirSync(screenshotsDir, { recursive: true });
  const path = join(screenshotsDir, `${name}.png`);
  await workbench().page.screenshot({ path });
  return path;
}

/** Opens the command palette with `text` typed (">" prefix included by F1). */
export async function openPalette(text: string): Promise<void> {
  const { page } = workbench();
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 15_000 });
  await input.fill(`>${text}`, { timeout: 10_000 });
}

/** The labels of the quick-input rows shown now. */
export async function quickInputRows(): Promise<string[]> {
  const rows = workbench().page.locator('.quick-input-widget .monaco-list-row');
  await rows.first().waitFor();
  return rows.evaluateAll((elements) => elements.map((e) => e.getAttribute('aria-label') ?? e.textContent ?? ''));
}

/** Runs a command by its palette title, e.g. "PassLens: Score Current File". */
export async function runCommand(title: string): Promise<void> {
  const { page } = workbench();
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  // Under load the palette can close under the pointer (in CI the row went inert, then
  // hidden, right after a file opened). A click that fails its actionability checks has not
  // run the command, so opening the palette again is safe.
  // A command that just ended can also move the focus (an editor shown again) and close the
  // palette as it opens: opening it is part of the attempt.
  for (let attempt = 1; ; attempt++) {
    try {
      // Opening the palette is retried too: under load F1 can land while focus moves (a file
      // just opened) and the input never shows.
      await openPalette(title);
      await row.waitFor({ timeout: 15_000 });
      await row.click({ timeout: 10_000 });
      return;
    } catch (error) {
      const dialog = await page.locator('.monaco-dialog-box').allTextContents();
      console.log(`runCommand "${title}" attempt ${attempt} failed${dialog.length ? `; dialog: ${dialog.join(' / ')}` : ''}`);
      await screenshot(`run-command-attempt-${attempt}`);
      if (attempt === 3) throw error;
    }
  }
}

/** Opens a workspace file through Quick Open. */
export async function openFile(name: string): Promise<void> {
  const { page } = workbench();
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first();
  // A file written just before may not be in the file-search index yet (slow under load):
  // retyping the query asks the search again.
  for (let attempt = 1; ; attempt++) {
    if (!(await input.isVisible())) await page.keyboard.press('Control+P');
    await input.fill('');
    await input.fill(name);
    try {
      await row.waitFor({ timeout: 15_000 });
      break;
    } catch (error) {
      if (attempt === 4) throw error;
    }
  }
  await page.keyboard.press('Enter');
  await page.locator(`.tab[aria-label*="${name}"]`).first().waitFor();
}
