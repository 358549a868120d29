/** Shared by the extension-host tests (not a test file itself: no `.test` suffix). */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { PassLensApi } from '../../../src/extension';

export const EXTENSION_ID = 'passlens.passlens';

export function passlens(): vscode.Extension<PassLensApi> {
  const extension = vscode.extensions.getExtension<PassLensApi>(EXTENSION_ID);
  assert.ok(extension, `extension ${EXTENSION_ID} is not installed in this editor`);
  return extension;
}

export function workspaceFile(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test workspace folder is not open');
  return vscode.Uri.joinPath(folder.uri, name);
}

/** Opens a fixture file in an editor (which fires onLanguage:python). */
export async function openFixture(name: string): Promise<vscode.TextEditor> {
  const document = await vscode.workspace.openTextDocument(workspaceFile(name));
  return vscode.window.showTextDocument(document);
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
