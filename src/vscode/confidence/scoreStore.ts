import * as vscode from 'vscode';
import type { DocumentScore } from '../../core/confidence/documentScoring';

export interface StoredScore extends DocumentScore {
  /** Document version the scores were computed for. */
  version: number;
}

export type ScoreState =
  | { kind: 'scored'; score: StoredScore }
  | { kind: 'scoring' }
  | { kind: 'noProblem' }
  | { kind: 'error'; message: string };

/** The latest confidence state of each document, shared by decorations, status bar, hover and curve. */
export class ScoreStore implements vscode.Disposable {
  private readonly states = new Map<string, ScoreState>();
  private readonly lastScores = new Map<string, StoredScore>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  set(uri: vscode.Uri, state: ScoreState): void {
    this.states.set(uri.toString(), state);
    if (state.kind === 'scored') this.lastScores.set(uri.toString(), state.score);
    this.changed.fire(uri);
  }

  state(uri: vscode.Uri): ScoreState | undefined {
    return this.states.get(uri.toString());
  }

  /** The most recent scores, kept while a rescore runs so decorations do not flicker. */
  score(uri: vscode.Uri): StoredScore | undefined {
    return this.lastScores.get(uri.toString());
  }

  delete(uri: vscode.Uri): void {
    this.states.delete(uri.toString());
    this.lastScores.delete(uri.toString());
    this.changed.fire(uri);
  }

  clear(): void {
    const uris = [...this.states.keys(), ...this.lastScores.keys()];
    this.states.clear();
    this.lastScores.clear();
    for (const uri of new Set(uris)) this.changed.fire(vscode.Uri.parse(uri));
  }

  dispose(): void {
    this.states.clear();
    this.lastScores.clear();
    this.changed.dispose();
  }
}
