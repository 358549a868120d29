import * as vscode from 'vscode';
import { ProblemService } from './problemService';
import { setProblem } from './setProblem';

/** Each file's problem statement, and PassLens: Set Problem for This File. */
export function registerProblem(context: vscode.ExtensionContext): ProblemService {
  const problems = new ProblemService(context.workspaceState);
  context.subscriptions.push(problems, vscode.commands.registerCommand('passlens.setProblem', () => setProblem(problems)));
  return problems;
}
