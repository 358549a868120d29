import * as vscode from 'vscode';
import type { CandidateStore } from '../generateAndRank/candidateStore';
import type { ProblemService } from '../problem/problemService';
import { onSettingsChanged } from '../settings';
import { runCandidateInSandbox } from './runCandidate';
import { createJudge, SandboxService } from './sandboxService';

/** The sandbox judge (trusted workspaces only), started on first use. */
export function registerSandbox(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): SandboxService {
  const sandbox = new SandboxService(createJudge(context.extensionUri.fsPath), log);
  context.subscriptions.push(
    sandbox,
    onSettingsChanged((settings) => sandbox.onSettingsChanged(settings)),
    // Trust can be granted while running; the sandbox starts on the next use.
    vscode.workspace.onDidGrantWorkspaceTrust(() => log.info('workspace trusted: the sandbox may run candidates')),
  );
  return sandbox;
}

/** PassLens: Run Candidate in Sandbox, over the last Generate and Rank's candidates or the current file. */
export function registerRunCandidate(
  context: vscode.ExtensionContext,
  deps: { sandbox: SandboxService; candidates: CandidateStore; problems: ProblemService; log: vscode.LogOutputChannel },
): void {
  const { sandbox, candidates, problems, log } = deps;
  context.subscriptions.push(
    vscode.commands.registerCommand('passlens.runCandidateInSandbox', () => runCandidateInSandbox(sandbox, candidates, problems, log)),
  );
}
