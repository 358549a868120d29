import * as vscode from 'vscode';
import { onSettingsChanged } from '../settings';
import type { OriginAccess } from '../trust/originAccess';
import { CriticService, configuredCriticLoader } from './criticService';
import { selectCriticModel } from './selectCritic';

/** The critic: one loaded on demand for every feature, and PassLens: Select Critic Model. */
export function registerCritic(context: vscode.ExtensionContext, access: OriginAccess, log: vscode.LogOutputChannel): CriticService {
  const loader = configuredCriticLoader(access, vscode.Uri.joinPath(context.globalStorageUri, 'critic-hashes').fsPath);
  const critics = new CriticService(loader, log);
  context.subscriptions.push(
    critics,
    vscode.commands.registerCommand('passlens.selectCriticModel', () => selectCriticModel(loader, access, () => critics.release(), log)),
    onSettingsChanged((settings) => critics.onSettingsChanged(settings)),
  );
  return critics;
}
