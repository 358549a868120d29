import * as vscode from 'vscode';
import type { ConfidenceDecorations } from './vscode/confidence/decorations';
import { registerConfidence } from './vscode/confidence/feature';
import type { ScoreStore } from './vscode/confidence/scoreStore';
import { registerCritic } from './vscode/critic/feature';
import type { CandidateStore } from './vscode/generateAndRank/candidateStore';
import { registerGenerateAndRank } from './vscode/generateAndRank/feature';
import { CandidatesPanel } from './vscode/generateAndRank/candidatesPanel';
import { registerGeneration } from './vscode/generation/feature';
import { registerInlineCompletion, type InlineFeature } from './vscode/inlineCompletion/feature';
import { registerProblem } from './vscode/problem/feature';
import { registerRunCandidate, registerSandbox } from './vscode/sandbox/feature';
import { registerOriginAccess } from './vscode/trust/feature';

/** What the editor tests reach through the extension's exports. */
export interface PassLensApi {
  decorations: ConfidenceDecorations;
  scores: ScoreStore;
  candidates: CandidateStore;
  inline: InlineFeature;
  /** The candidates panel, when open. */
  candidatesPanel: () => CandidatesPanel | undefined;
}

/**
 * Constructs PassLens' features; each registers its own commands and disposables. Nothing
 * here loads a model: critics and generators start lazily on first use.
 */
export function activate(context: vscode.ExtensionContext): PassLensApi {
  const log = vscode.window.createOutputChannel('PassLens', { log: true });
  context.subscriptions.push(log, vscode.commands.registerCommand('passlens.showLog', () => log.show()));
  const access = registerOriginAccess(context, log);
  const critics = registerCritic(context, access, log);
  const generators = registerGeneration(context, access, log);
  const problems = registerProblem(context);
  const sandbox = registerSandbox(context, log);
  const { scores, decorations } = registerConfidence(context, { critics, problems, log });
  const candidates = registerGenerateAndRank(context, { generators, critics, sandbox, problems, log });
  registerRunCandidate(context, { sandbox, candidates, problems, log });
  const inline = registerInlineCompletion(context, { generators, critics, problems, sandbox, candidates, log });
  log.info('PassLens activated');
  return { decorations, scores, candidates, inline, candidatesPanel: () => CandidatesPanel.open };
}

export function deactivate(): void {
  // Disposables registered on the context are released by VS Code.
}
