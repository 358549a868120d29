import * as vscode from 'vscode';
import { offerCriticFix } from '../critic/selectCritic';
import { isCancellation, withProgress } from '../log';
import type { CriticService } from '../critic/criticService';
import { readSettings } from '../settings';
import type { ConfidenceController } from './confidenceController';

/** PassLens: Score Current File — one full scoring of the active editor, with progress. */
export async function scoreCurrentFile(controller: ConfidenceController, critics: CriticService, log: vscode.LogOutputChannel): Promise<void> {
  const document = vscode.window.activeTextEditor?.document;
  if (!document) {
    void vscode.window.showInformationMessage('PassLens: open a Python file to score it.');
    return;
  }
  try {
    const scored = await withProgress(log, 'PassLens: scoring file', (_progress, signal) => controller.score(document, signal));
    if (scored === false) {
      const choice = await vscode.window.showWarningMessage(
        'PassLens: this file has no problem statement (top docstring, comment block or problem.md beside it).',
        'Set Problem',
      );
      if (choice) await vscode.commands.executeCommand('passlens.setProblem');
    }
  } catch (error) {
    if (!isCancellation(error)) await offerCriticFix(error);
  } finally {
    // Live mode keeps the critic; a one-off score lets it go after a while.
    if (!readSettings().liveConfidence.enabled) critics.idle();
  }
}
