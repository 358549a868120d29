import * as vscode from 'vscode';
import type { ProblemService } from './problemService';

/** PassLens: Set Problem for This File — from the selection, typed text, a Markdown file, or cleared. */
export async function setProblem(problems: ProblemService): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('PassLens: open the file the problem belongs to first.');
    return;
  }
  const selection = editor.document.getText(editor.selection);
  const choice = await vscode.window.showQuickPick(
    [
      ...(selection.trim() ? [{ label: '$(selection) Use the selected text', pick: 'selection' as const }] : []),
      { label: '$(edit) Type the problem statement…', pick: 'type' as const },
      { label: '$(markdown) Pick a Markdown or text file…', pick: 'file' as const },
      { label: '$(clear-all) Clear (use the docstring or problem.md)', pick: 'clear' as const },
    ],
    { title: 'PassLens: Set Problem for This File' },
  );
  if (!choice) return;
  let statement: string | undefined;
  if (choice.pick === 'selection') statement = selection;
  else if (choice.pick === 'type') statement = await vscode.window.showInputBox({ title: 'Problem statement', prompt: 'Examples written as "Input" / "Output" blocks are run in the sandbox.' });
  else if (choice.pick === 'file') {
    const file = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Problem statement': ['md', 'txt'] } });
    if (file?.[0]) statement = new TextDecoder().decode(await vscode.workspace.fs.readFile(file[0]));
  }
  if (choice.pick !== 'clear' && !statement?.trim()) return;
  await problems.setProblem(editor.document.uri, choice.pick === 'clear' ? undefined : statement);
}
