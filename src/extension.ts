import * as vscode from 'vscode';
import { ConfidenceController } from './vscode/confidence/confidenceController';
import { ConfidenceDecorations } from './vscode/confidence/decorations';
import { LiveConfidence } from './vscode/confidence/liveConfidence';
import { scoreCurrentFile } from './vscode/confidence/scoreFile';
import { ScoreStore } from './vscode/confidence/scoreStore';
import { ConfidenceStatusBar } from './vscode/confidence/statusBar';
import { selectCriticModel } from './vscode/configure/selectCritic';
import { selectGenerator } from './vscode/configure/selectGenerator';
import { setProblem } from './vscode/configure/setProblem';
import { CurvePanel } from './vscode/curve/curvePanel';
import { CandidateStore } from './vscode/generateAndRank/candidateStore';
import { generateAndRankCommand } from './vscode/generateAndRank/command';
import { CandidatePreviews } from './vscode/generateAndRank/preview';
import { runCandidateInSandbox } from './vscode/sandbox/runCandidate';
import { createJudge, loadConfiguredCritic } from './vscode/services/backends';
import { CriticService } from './vscode/services/criticService';
import { GeneratorService } from './vscode/services/generatorService';
import { ProblemService } from './vscode/services/problemService';
import { SandboxService } from './vscode/services/sandboxService';
import { onSettingsChanged } from './vscode/settings';

/** What the editor tests reach through the extension's exports. */
export interface PassLensApi {
  decorations: ConfidenceDecorations;
  scores: ScoreStore;
  candidates: CandidateStore;
}

/**
 * Wires PassLens' features into VS Code. Nothing here loads a model: critics and
 * generators start lazily on first use.
 */
export function activate(context: vscode.ExtensionContext): PassLensApi {
  const log = vscode.window.createOutputChannel('PassLens', { log: true });
  const cacheDir = vscode.Uri.joinPath(context.globalStorageUri, 'models').fsPath;
  const critics = new CriticService(loadConfiguredCritic, log);
  const generators = new GeneratorService(context.secrets, cacheDir, log);
  const sandbox = new SandboxService(createJudge(context.extensionUri.fsPath), log);
  const problems = new ProblemService(context.workspaceState);
  const scores = new ScoreStore();
  const controller = new ConfidenceController(critics, problems, scores, log);
  const decorations = new ConfidenceDecorations(context.extensionUri, scores);
  const live = new LiveConfidence(controller, critics, scores, log);
  const candidates = new CandidateStore();
  const previews = new CandidatePreviews();

  const command = (id: string, handler: () => unknown) => vscode.commands.registerCommand(id, handler);
  context.subscriptions.push(
    log,
    critics,
    generators,
    sandbox,
    problems,
    scores,
    controller,
    decorations,
    new ConfidenceStatusBar(scores),
    live,
    previews,
    command('passlens.generateAndRank', () => generateAndRankCommand({ generators, critics, sandbox, problems, previews, store: candidates, log })),
    command('passlens.scoreCurrentFile', () => scoreCurrentFile(controller, critics, log)),
    command('passlens.toggleLiveConfidence', () => live.toggle()),
    command('passlens.showConfidenceCurve', () => {
      const document = vscode.window.activeTextEditor?.document;
      if (document) CurvePanel.show(context.extensionUri, scores, document);
      else void vscode.window.showInformationMessage('PassLens: open a scored Python file to see its confidence curve.');
    }),
    command('passlens.runCandidateInSandbox', () => runCandidateInSandbox(sandbox, candidates, problems, log)),
    command('passlens.selectCriticModel', () => selectCriticModel(loadConfiguredCritic, log)),
    command('passlens.selectGenerator', () => selectGenerator(generators, context.secrets, cacheDir, log)),
    command('passlens.setProblem', () => setProblem(problems)),
    command('passlens.showLog', () => log.show()),
    onSettingsChanged((settings) => {
      critics.onSettingsChanged(settings);
      generators.onSettingsChanged(settings);
      sandbox.onSettingsChanged(settings);
      live.apply(settings);
    }),
    // Trust can be granted while running; the sandbox starts on the next use.
    vscode.workspace.onDidGrantWorkspaceTrust(() => log.info('workspace trusted: the sandbox may run candidates')),
    { dispose: () => CurvePanel.disposeCurrent() },
  );
  log.info('PassLens activated');
  return { decorations, scores, candidates };
}

export function deactivate(): void {
  // Disposables registered on the context are released by VS Code.
}
