import * as vscode from 'vscode';
import type { ScoreStore } from './scoreStore';

/** The active Python file's p(pass) (or why there is none); clicking opens the curve. */
export class ConfidenceStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('passlens.confidence', vscode.StatusBarAlignment.Right, 100);
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly store: ScoreStore) {
    this.item.name = 'PassLens confidence';
    this.disposables = [
      store.onDidChange(() => this.update()),
      vscode.window.onDidChangeActiveTextEditor(() => this.update()),
    ];
    this.update();
  }

  update(): void {
    const document = vscode.window.activeTextEditor?.document;
    const state = document && this.store.state(document.uri);
    if (!document || document.languageId !== 'python' || !state) {
      this.item.hide();
      return;
    }
    switch (state.kind) {
      case 'scored':
        this.item.text = `$(pulse) p(pass) ${(state.score.final * 100).toFixed(0)}%`;
        this.item.tooltip = `PassLens: the critic's probability that this file passes its tests (${state.score.incremental ? 'incremental' : 'full'} scoring). Click for the confidence curve.`;
        this.item.command = 'passlens.showConfidenceCurve';
        this.item.backgroundColor = state.score.final < 0.2 ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
        break;
      case 'scoring':
        this.item.text = '$(sync~spin) PassLens';
        this.item.tooltip = 'PassLens is scoring this file';
        break;
      case 'noProblem':
        this.item.text = '$(warning) PassLens: no problem';
        this.item.tooltip = 'No problem statement for this file: add a top docstring or a problem.md beside it, or click to set one.';
        this.item.command = 'passlens.setProblem';
        this.item.backgroundColor = undefined;
        break;
      case 'error':
        this.item.text = '$(error) PassLens';
        this.item.tooltip = state.message;
        this.item.command = 'passlens.showLog';
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        break;
    }
    this.item.show();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
    this.item.dispose();
  }
}
