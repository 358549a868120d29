import * as vscode from 'vscode';
import type { CriticService } from '../critic/criticService';
import type { GeneratorService } from '../generation/generatorService';
import type { ProblemService } from '../problem/problemService';
import type { SandboxService } from '../sandbox/sandboxService';
import { CandidateStore } from './candidateStore';
import { generateAndRankCommand } from './command';
import { CandidatePreviews } from './preview';
import { CandidatesPanel, type CandidateSource } from './candidatesPanel';

/** PassLens: Generate and Rank Solutions — the best-of-n picker. Returns the store of the last run's candidates. */
export function registerGenerateAndRank(
  context: vscode.ExtensionContext,
  deps: { generators: GeneratorService; critics: CriticService; sandbox: SandboxService; problems: ProblemService; log: vscode.LogOutputChannel },
): CandidateStore {
  const store = new CandidateStore();
  const previews = new CandidatePreviews();
  const openPanel = (source: CandidateSource) => CandidatesPanel.show(context.extensionUri, source);
  context.subscriptions.push(
    previews,
    vscode.commands.registerCommand('passlens.generateAndRank', () => generateAndRankCommand({ ...deps, previews, store, openPanel })),
    vscode.commands.registerCommand('passlens.showCandidates', () => {
      if (store.live) openPanel(store.live);
      else void vscode.window.showInformationMessage('PassLens: no candidates yet. Run Generate and Rank Solutions or trigger an inline suggestion (Alt+\\) first.');
    }),
    { dispose: () => CandidatesPanel.disposeCurrent() },
  );
  return store;
}
