import * as vscode from 'vscode';
import type { Problem } from '../../core/problem';
import { problemFromMarkdown, problemFromStatement, topOfFileStatement } from '../../core/problemExtraction';

export type ProblemSource = 'set' | 'docstring' | 'problem.md';

export interface FileProblem {
  problem: Problem;
  source: ProblemSource;
}

const STATE_KEY = 'passlens.problems';

/**
 * The problem statement of each file: the one set with "Set Problem" (kept per workspace),
 * else the file's top docstring or comment block, else a problem.md beside it.
 */
export class ProblemService implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly state: vscode.Memento) {}

  async problemFor(document: vscode.TextDocument): Promise<FileProblem | undefined> {
    const set = this.stored()[document.uri.toString()];
    if (set) return { problem: problemFromStatement(set.question, set.starterCode), source: 'set' };
    const top = topOfFileStatement(document.getText());
    if (top) return { problem: problemFromStatement(top), source: 'docstring' };
    if (document.uri.scheme === 'file' || document.uri.scheme === 'vscode-remote') {
      const sibling = vscode.Uri.joinPath(document.uri, '..', 'problem.md');
      try {
        const bytes = await vscode.workspace.fs.readFile(sibling);
        return { problem: problemFromMarkdown(new TextDecoder().decode(bytes)), source: 'problem.md' };
      } catch {
        // No problem.md beside the file.
      }
    }
    return undefined;
  }

  async setProblem(uri: vscode.Uri, question: string | undefined, starterCode?: string): Promise<void> {
    const all = { ...this.stored() };
    if (question?.trim()) all[uri.toString()] = { question, ...(starterCode ? { starterCode } : {}) };
    else delete all[uri.toString()];
    await this.state.update(STATE_KEY, all);
    this.changed.fire(uri);
  }

  private stored(): Record<string, { question: string; starterCode?: string }> {
    return this.state.get(STATE_KEY, {});
  }

  dispose(): void {
    this.changed.dispose();
  }
}
