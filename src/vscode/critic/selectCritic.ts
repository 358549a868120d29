import * as vscode from 'vscode';
import { errorMessage, withProgress } from '../log';
import { NoCriticError, type CriticLoader } from './criticService';
import { readSettings } from '../settings';
import type { OriginAccess } from '../trust/originAccess';
import { originOf } from '../../core/shared/origin';

/** Shows an error; for a missing critic, offers to pick a bundle right away. */
export async function offerCriticFix(error: unknown): Promise<void> {
  if (error instanceof NoCriticError) {
    const choice = await vscode.window.showErrorMessage(`PassLens: ${error.message}`, 'Pick Critic Bundle…');
    if (choice) await vscode.commands.executeCommand('passlens.selectCriticModel');
    return;
  }
  void vscode.window.showErrorMessage(`PassLens: ${errorMessage(error)}`);
}

/** Says (in the log and once on screen) that with no critic configured `what` are ranked by likelihood, and offers to pick one. */
export function tellRankedByLikelihood(what: string, log: vscode.LogOutputChannel): void {
  log.info(`no critic configured: ranking ${what} by the generator's mean token log-probability`);
  void vscode.window
    .showInformationMessage(`PassLens: no critic configured, so ${what} are ranked by the generator's likelihood (not a p(pass)).`, 'Pick Critic Bundle…')
    .then((choice) => choice && vscode.commands.executeCommand('passlens.selectCriticModel'));
}

/**
 * PassLens: Select Critic Model — a bundle folder or a vLLM server URL, loaded once right
 * away to validate it; saved to the settings only when it works. Typing the server's URL
 * here is the user's approval of its origin; its API key is stored under that origin.
 */
export async function selectCriticModel(loader: CriticLoader, access: OriginAccess, release: () => Promise<void>, log: vscode.LogOutputChannel): Promise<void> {
  const current = readSettings().critic;
  const kind = await vscode.window.showQuickPick(
    [
      { label: '$(folder) Critic bundle folder…', description: current.backend === 'local' ? current.bundlePath : '', backend: 'local' as const },
      { label: '$(server) vLLM critic server…', description: current.backend === 'vllm' ? current.url : '', backend: 'vllm' as const },
    ],
    { title: 'PassLens: Select Critic Model', placeHolder: 'Where does the value-head critic run?' },
  );
  if (!kind) return;
  let candidate = { ...current, backend: kind.backend };
  if (kind.backend === 'local') {
    const folder = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: 'Use this critic bundle',
      title: 'Folder with passlens-critic.json and model.onnx',
    });
    if (!folder?.[0]) return;
    candidate = { ...candidate, bundlePath: folder[0].fsPath };
  } else {
    const url = await vscode.window.showInputBox({
      title: 'vLLM critic server',
      value: current.url,
      prompt: 'Base URL of a vLLM server running the critic as a pooling model',
      validateInput: (v) => (/^https?:\/\/\S+$/.test(v) ? undefined : 'Enter an http(s) URL'),
    });
    if (!url) return;
    const apiKey = await vscode.window.showInputBox({ title: `API key for ${originOf(url)} (leave empty for none)`, password: true, value: (await access.keyFor(url)) ?? '' });
    if (apiKey === undefined) return;
    await access.approve(url);
    await access.storeKey(url, apiKey || undefined);
    candidate = { ...candidate, url };
  }
  try {
    const critic = await withProgress(log, 'PassLens: checking the critic', (_p, signal) => loader(candidate, signal));
    if (!critic) return;
    const name = `${critic.info.name} (${critic.info.baseModel}, ${critic.info.provider})`;
    await critic.dispose();
    // The loaded critic may hold the origin's previous key.
    await release();
    const config = vscode.workspace.getConfiguration('passlens');
    await config.update('critic.backend', candidate.backend, vscode.ConfigurationTarget.Global);
    if (candidate.backend === 'local') await config.update('critic.bundlePath', candidate.bundlePath, vscode.ConfigurationTarget.Global);
    else await config.update('critic.url', candidate.url, vscode.ConfigurationTarget.Global);
    void vscode.window.showInformationMessage(`PassLens: critic set to ${name}.`);
  } catch (error) {
    void vscode.window.showErrorMessage(`PassLens: that critic does not work: ${errorMessage(error)}`);
  }
}
