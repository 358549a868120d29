import * as vscode from 'vscode';
import type { Critic } from '../../core/critic/types';
import { DocumentScorer } from '../../core/confidence/documentScoring';
import { errorMessage, isCancellation, timed } from '../log';
import type { CriticService } from '../critic/criticService';
import type { ProblemService } from '../problem/problemService';
import type { ScoreStore } from './scoreStore';

interface ScorerEntry {
  scorer: DocumentScorer;
  critic: Critic;
  problemKey: string;
}

/**
 * Scores documents into the ScoreStore, keeping one DocumentScorer (and its critic KV
 * cache) per document so edits at the end of a file are scored incrementally.
 */
export class ConfidenceController implements vscode.Disposable {
  private readonly scorers = new Map<string, ScorerEntry>();
  private readonly disposables: vscode.Disposable[];

  constructor(
    private readonly critics: CriticService,
    private readonly problems: ProblemService,
    private readonly store: ScoreStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables = [
      critics.onDidChange(() => void this.releaseScorers()),
      problems.onDidChange((uri) => void this.releaseScorer(uri.toString())),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        void this.releaseScorer(doc.uri.toString());
        store.delete(doc.uri);
      }),
    ];
  }

  /**
   * Scores `document` now. Returns false when it has no problem statement (the store says
   * so); rethrows cancellation; other errors are stored for the status bar and rethrown.
   */
  async score(document: vscode.TextDocument, signal?: AbortSignal): Promise<boolean> {
    const uri = document.uri;
    const key = uri.toString();
    const found = await this.problems.problemFor(document);
    if (!found) {
      this.store.set(uri, { kind: 'noProblem' });
      return false;
    }
    const version = document.version;
    const code = document.getText();
    this.store.set(uri, { kind: 'scoring' });
    try {
      const critic = await this.critics.get(signal);
      const problemKey = JSON.stringify(found.problem);
      let entry = this.scorers.get(key);
      if (!entry || entry.critic !== critic || entry.problemKey !== problemKey) {
        // The old stream may belong to a critic already released; closing it is best effort.
        await entry?.scorer.dispose().catch(() => undefined);
        entry = { scorer: new DocumentScorer(critic, found.problem), critic, problemKey };
        this.scorers.set(key, entry);
      }
      const scorer = entry.scorer;
      const score = await timed(this.log, `score ${vscode.workspace.asRelativePath(uri)} (${code.length} chars)`, () => scorer.score(code, signal));
      this.store.set(uri, { kind: 'scored', score: { ...score, version } });
      return true;
    } catch (error) {
      if (isCancellation(error) || signal?.aborted) {
        const last = this.store.score(uri);
        if (last) this.store.set(uri, { kind: 'scored', score: last });
        throw error;
      }
      this.store.set(uri, { kind: 'error', message: errorMessage(error) });
      throw error;
    }
  }

  private async releaseScorer(key: string): Promise<void> {
    const entry = this.scorers.get(key);
    this.scorers.delete(key);
    await entry?.scorer.dispose().catch(() => undefined);
  }

  /** Frees every document's critic stream (KV caches). */
  async releaseScorers(): Promise<void> {
    const entries = [...this.scorers.values()];
    this.scorers.clear();
    await Promise.allSettled(entries.map((e) => e.scorer.dispose()));
  }

  dispose(): void {
    void this.releaseScorers();
    this.disposables.forEach((d) => d.dispose());
  }
}
