import type * as vscode from 'vscode';
import type { CandidateSource } from './candidatesPanel';
import type { RankedCandidate } from '../../core/generateAndRank/bestOfN';
import type { Problem } from '../../core/problem/types';

export interface RankRun {
  document: vscode.Uri;
  problem: Problem;
  candidates: RankedCandidate[];
}

/** The latest Generate and Rank run, for "Run Candidate in Sandbox" and the curve view. */
export class CandidateStore {
  last: RankRun | undefined;
  /** The latest candidates the panel can show (a run in progress included); the newest wins. */
  live: CandidateSource | undefined;

  /** Makes `source` the one Show Candidates Panel opens, disposing the one it replaces. */
  setLive(source: CandidateSource & vscode.Disposable): void {
    const old = this.live as (CandidateSource & Partial<vscode.Disposable>) | undefined;
    this.live = source;
    if (old !== source) old?.dispose?.();
  }

  clear(): void {
    this.last = undefined;
  }
}
