import * as vscode from 'vscode';
import type { CriticService } from '../critic/criticService';
import type { ProblemService } from '../problem/problemService';
import { onSettingsChanged } from '../settings';
import { ConfidenceController } from './confidenceController';
import { CurvePanel } from './curvePanel';
import { ConfidenceDecorations } from './decorations';
import { LiveConfidence } from './liveConfidence';
import { scoreCurrentFile } from './scoreFile';
import { ScoreStore } from './scoreStore';
import { ConfidenceStatusBar } from './statusBar';

export interface ConfidenceFeature {
  scores: ScoreStore;
  decorations: ConfidenceDecorations;
}

/** Per-line confidence of a file: Score Current File, Live Confidence, the gutter, the status bar and the curve. */
export function registerConfidence(
  context: vscode.ExtensionContext,
  deps: { critics: CriticService; problems: ProblemService; log: vscode.LogOutputChannel },
): ConfidenceFeature {
  const { critics, problems, log } = deps;
  const scores = new ScoreStore();
  const controller = new ConfidenceController(critics, problems, scores, log);
  const decorations = new ConfidenceDecorations(context.extensionUri, scores);
  const live = new LiveConfidence(controller, critics, scores, log);
  context.subscriptions.push(
    scores,
    controller,
    decorations,
    new ConfidenceStatusBar(scores),
    live,
    vscode.commands.registerCommand('passlens.scoreCurrentFile', () => scoreCurrentFile(controller, critics, log)),
    vscode.commands.registerCommand('passlens.toggleLiveConfidence', () => live.toggle()),
    vscode.commands.registerCommand('passlens.showConfidenceCurve', () => {
      const document = vscode.window.activeTextEditor?.document;
      if (document) CurvePanel.show(context.extensionUri, scores, document);
      else void vscode.window.showInformationMessage('PassLens: open a scored Python file to see its confidence curve.');
    }),
    onSettingsChanged((settings) => live.apply(settings)),
    { dispose: () => CurvePanel.disposeCurrent() },
  );
  return { scores, decorations };
}
