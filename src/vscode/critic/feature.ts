import * as vscode from 'vscode';
import { onSettingsChanged } from '../settings';
import { CriticService, loadConfiguredCritic } from './criticService';
import { selectCriticModel } from './selectCritic';

/** The critic: one loaded on demand for every feature, and PassLens: Select Critic Model. */
export function registerCritic(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): CriticService {
  const critics = new CriticService(loadConfiguredCritic, log);
  context.subscriptions.push(
    critics,
    vscode.commands.registerCommand('passlens.selectCriticModel', () => selectCriticModel(loadConfiguredCritic, log)),
    onSettingsChanged((settings) => critics.onSettingsChanged(settings)),
  );
  return critics;
}
