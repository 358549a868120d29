import * as vscode from 'vscode';
import type { RankedCandidate } from '../../core/generateAndRank/bestOfN';
import { cardVerdict, diffLines, orderCards, type CandidateCard } from '../../core/generateAndRank/candidateCards';
import { extractCode } from '../../core/contracts';
import type { Problem } from '../../core/problem/types';
import type { CandidateSource } from './candidatesPanel';
import { rankingLabel } from './picker';

interface Streaming {
  text: string;
  values: readonly number[];
  tokens?: number;
  pruned?: false | number;
}

/**
 * A Generate and Rank run as the candidates panel shows it: candidates as they stream
 * (text and values so far, from generateAndRank's onUpdate), then ranked, then judged.
 * Guided search's fields are shown: tokens spent and where a candidate was pruned.
 */
export class RankRunCards implements CandidateSource, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly streaming = new Map<number, Streaming>();
  private ranked: RankedCandidate[] | undefined;
  private finished = false;
  readonly title: string;

  constructor(
    private readonly document: vscode.TextDocument,
    private readonly problem: Problem,
    private readonly n: number,
    private readonly rankedDetail: string,
    /** Where a candidate's code goes when accepted: returns the file's text after it (for the diff) or applies it. */
    private readonly placement: { after(code: string): string; apply(code: string): Promise<void> },
  ) {
    this.title = `Generate and Rank: ${vscode.workspace.asRelativePath(document.uri)}`;
  }

  /** How the cards are ordered; without a critic, by the generator's likelihood, which is no p(pass). */
  get detail(): string {
    if (this.ranked?.[0]?.rankedBy === 'likelihood') return `${this.n} candidates, ranked by the generator's likelihood (no critic configured: not a p(pass))`;
    return this.rankedDetail;
  }

  get done(): boolean {
    return this.finished;
  }

  /** A candidate's text and scores grew (or a guided search stopped it). */
  update(index: number, streaming: Streaming): void {
    this.streaming.set(index, streaming);
    this.changed.fire();
  }

  /** The ranked candidates (`judged` may be filled in later: call `judgedChanged`). */
  finish(ranked: RankedCandidate[]): void {
    this.ranked = ranked;
    this.changed.fire();
  }

  /** Generation, scoring and judging are over (or failed). */
  end(): void {
    this.finished = true;
    this.changed.fire();
  }

  judgedChanged(): void {
    this.changed.fire();
  }

  cards(): CandidateCard[] {
    const current = this.document.getText();
    const noVerdict = !vscode.workspace.isTrusted ? 'untrusted workspace' : !this.problem.tests?.inputs.length ? 'the problem has no examples' : this.finished ? undefined : 'waiting for the ranking';
    if (this.ranked) {
      return orderCards(
        this.ranked.map((candidate) => ({
          key: String(candidate.index),
          label: `candidate ${candidate.index + 1} of ${this.n}`,
          code: candidate.code,
          final: candidate.final,
          rankedBy: candidate.rankedBy,
          values: candidate.values,
          state: 'scored',
          verdict: cardVerdict(candidate.judged, noVerdict),
          diff: candidate.code ? diffLines(current, this.placement.after(candidate.code)) : [],
          finishReason: candidate.finishReason,
          tokens: candidate.tokens,
          pruned: candidate.pruned,
        })),
      );
    }
    return [...this.streaming.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, { text, values, tokens, pruned }]) => ({
        key: String(index),
        label: `candidate ${index + 1} of ${this.n}`,
        code: extractCode(text).code || text,
        final: Number.NaN,
        values: [...values],
        state: 'generating',
        verdict: cardVerdict(undefined, noVerdict),
        diff: [],
        ...(tokens !== undefined ? { tokens } : {}),
        ...(pruned !== undefined ? { pruned } : {}),
      }));
  }

  async accept(key: string): Promise<string> {
    const candidate = this.ranked?.find((c) => String(c.index) === key);
    if (!candidate) throw new Error('That candidate is still being generated; accept it once the run is ranked.');
    if (!candidate.code) throw new Error(`Candidate ${candidate.index + 1} has no code block to insert.`);
    await this.placement.apply(candidate.code);
    return `Inserted candidate ${candidate.index + 1} (${rankingLabel(candidate).replace(/\s+/g, ' ')}) into ${vscode.workspace.asRelativePath(this.document.uri)}.`;
  }

  dispose(): void {
    this.changed.dispose();
  }
}
