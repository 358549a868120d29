import * as vscode from 'vscode';
import type { Problem } from '../../core/problem/types';
import { problemFromMarkdown, problemFromStatement, topOfFileStatement } from '../../core/problem/extraction';

export type ProblemSource = 'set' | 'docstring' | 'problem.md';

export interface FileProblem {
  problem: Problem;
  source: ProblemSource;
}

const STATE_KEY = 'passlens.problems';

/**
 * The problem statement of each file: the one set with "Set Problem" (kept per workspace),
 * else the file's top docstring or comment block, else <file>.md or problem.md beside it.
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
      // solution.py looks for solution.md first, then a problem.md shared by its folder.
      const stem = document.uri.path.split('/').pop()!.replace(/\.[^.]*$/, '');
      for (const name of [`${stem}.md`, 'problem.md']) {
        try {
          const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(document.uri, '..', name));
          return { problem: problemFromMarkdown(new TextDecoder().decode(bytes)), source: 'problem.md' };
        } catch {
          // Not there: try the next name.
        }
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
