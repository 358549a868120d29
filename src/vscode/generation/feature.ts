import * as vscode from 'vscode';
import { onSettingsChanged } from '../settings';
import { GeneratorService } from './generatorService';
import { selectGenerator } from './selectGenerator';
import type { OriginAccess } from '../trust/originAccess';

/** The generator: built from the settings on demand, and PassLens: Select Generator. */
export function registerGeneration(context: vscode.ExtensionContext, access: OriginAccess, log: vscode.LogOutputChannel): GeneratorService {
  const cacheDir = vscode.Uri.joinPath(context.globalStorageUri, 'models').fsPath;
  const generators = new GeneratorService(access, cacheDir, log);
  context.subscriptions.push(
    generators,
    vscode.commands.registerCommand('passlens.selectGenerator', () => selectGenerator(generators, access, cacheDir, log)),
    onSettingsChanged((settings) => generators.onSettingsChanged(settings)),
  );
  return generators;
}
