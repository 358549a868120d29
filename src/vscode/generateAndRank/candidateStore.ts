import type * as vscode from 'vscode';
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

  clear(): void {
    this.last = undefined;
  }
}
