import * as vscode from 'vscode';
import type { Critic } from '../../core/critic/types';
import type { InlineRequest } from '../../core/inlineCompletion/request';
import type { ContinuationCandidate, InlineRanking, ScoredContinuation } from '../../core/inlineCompletion/rankContinuations';
import type { Problem } from '../../core/problem/types';

let nextId = 1;

/**
 * One inline suggestion request: N continuations at one cursor position of one document
 * version, generated and ranked in the background. It ends (aborting generation and
 * scoring) when the document changes, the cursor leaves, a newer request starts, or it is
 * accepted or dismissed.
 */
export class InlineSession implements vscode.Disposable {
  readonly id = nextId++;
  readonly controller = new AbortController();
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when candidates stream, are scored, or the session ends. */
  readonly onDidChange = this.changed.event;
  ranking: InlineRanking | undefined;
  request: InlineRequest | undefined;
  problem: Problem | undefined;
  critic: Critic | undefined;
  error: unknown;
  /** The list last handed to the editor, in its order (what Alt+] walks through). */
  provided: ScoredContinuation[] = [];
  /** Index into `provided` of the ghost text on screen; undefined when none shows. */
  shown: number | undefined;
  /** Set when the first continuation is scored, or the session ends without one. */
  readonly firstResult: Promise<void>;
  private resolveFirst!: () => void;
  private ended = false;
  private readonly started = performance.now();
  /** Milliseconds from the request to the first scored continuation and to the final ranking. */
  readonly timings: { first?: number; final?: number } = {};

  constructor(
    readonly document: vscode.TextDocument,
    readonly version: number,
    readonly position: vscode.Position,
    readonly explicit: boolean,
  ) {
    this.firstResult = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get done(): boolean {
    return this.ended;
  }

  /** Whether this session answers a request for `document` at `position` now. */
  matches(document: vscode.TextDocument, position: vscode.Position): boolean {
    return !this.controller.signal.aborted && document === this.document && document.version === this.version && position.isEqual(this.position);
  }

  /** The continuations ranked so far, best first. */
  get ranked(): ScoredContinuation[] {
    return this.ranking?.ranked ?? [];
  }

  /** Candidates as they stream, by index (until the ranking lists them as scored). */
  readonly streaming = new Map<number, ContinuationCandidate>();

  text(candidate: ContinuationCandidate): void {
    this.streaming.set(candidate.index, candidate);
    this.changed.fire();
  }

  update(ranking: InlineRanking): void {
    this.ranking = ranking;
    if (ranking.ranked.length && this.timings.first === undefined) this.timings.first = performance.now() - this.started;
    if (ranking.ranked.length) this.resolveFirst();
    this.changed.fire();
  }

  /** Generation and scoring are over: finished, failed or aborted. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    if (!error && this.timings.final === undefined) this.timings.final = performance.now() - this.started;
    this.resolveFirst();
    this.changed.fire();
  }

  /** Stops generation and scoring (a no-op once they ended). */
  abort(): void {
    this.controller.abort();
  }

  dispose(): void {
    this.abort();
    this.changed.dispose();
  }
}
