import * as vscode from 'vscode';
import { onSettingsChanged } from '../settings';
import { GeneratorService } from './generatorService';
import { selectGenerator } from './selectGenerator';

/** The generator: built from the settings on demand, and PassLens: Select Generator. */
export function registerGeneration(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): GeneratorService {
  const cacheDir = vscode.Uri.joinPath(context.globalStorageUri, 'models').fsPath;
  const generators = new GeneratorService(context.secrets, cacheDir, log);
  context.subscriptions.push(
    generators,
    vscode.commands.registerCommand('passlens.selectGenerator', () => selectGenerator(generators, context.secrets, cacheDir, log)),
    onSettingsChanged((settings) => generators.onSettingsChanged(settings)),
  );
  return generators;
}
