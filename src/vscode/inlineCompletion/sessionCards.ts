import * as vscode from 'vscode';
import type { Judge } from '../../core/generateAndRank/bestOfN';
import { cardVerdict, diffLines, orderCards, type CandidateCard } from '../../core/generateAndRank/candidateCards';
import type { ScoredContinuation } from '../../core/inlineCompletion/rankContinuations';
import type { JudgeResponse } from '../../core/sandbox/types';
import { isAbortError } from '../../core/shared/abort';
import { errorMessage } from '../log';
import type { CandidateSource } from '../generateAndRank/candidatesPanel';
import type { InlineSession } from './inlineSession';
import { rankingValue } from './inlineStatusBar';

/** Where verdicts come from: the sandbox when the workspace is trusted (SandboxService). */
export interface VerdictSource {
  judge(): Judge;
  limits: { timeoutSeconds: number; memoryMb: number };
}

/**
 * An inline session's continuations as the candidates panel shows them. Verdicts: once
 * shown in a trusted workspace, each distinct continuation's file (the code above, the
 * continuation, the code below) runs on the problem's examples in the sandbox.
 */
export class SessionCards implements CandidateSource, vscode.Disposable {
  readonly onDidChange: vscode.Event<void>;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly verdicts = new Map<string, JudgeResponse>();
  private readonly judging = new Set<string>();
  private readonly listener: vscode.Disposable;
  private verdictsWanted = false;
  readonly title: string;

  constructor(
    private readonly session: InlineSession,
    private readonly judge: VerdictSource,
  ) {
    this.title = `Inline suggestions at ${vscode.workspace.asRelativePath(session.document.uri)}:${session.position.line + 1}`;
    this.onDidChange = this.changed.event;
    this.listener = session.onDidChange(() => {
      this.judgeNew();
      this.changed.fire();
    });
  }

  get detail(): string {
    const n = this.session.request?.generation.n;
    const by = this.session.critic ? "best first by the critic's p(pass) of the file after accepting" : "best first by the generator's likelihood (no critic configured: not a p(pass))";
    return `${n ?? 'N'} continuations of the code at the cursor, ${by}` + (this.session.error && !isAbortError(this.session.error) ? ` · ${errorMessage(this.session.error)}` : '');
  }

  get done(): boolean {
    return this.session.done;
  }

  /** Shown in the panel: judge every scored continuation, now and as they come (trusted workspaces only). */
  opened(): void {
    this.verdictsWanted = true;
    this.judgeNew();
  }

  private notRunReason(): string | undefined {
    if (!vscode.workspace.isTrusted) return 'untrusted workspace';
    if (!this.session.problem?.tests?.inputs.length) return 'the problem has no examples';
    return this.verdictsWanted ? undefined : 'not requested';
  }

  private judgeNew(): void {
    const source = this.judge;
    const tests = this.session.problem?.tests;
    const request = this.session.request;
    if (!this.verdictsWanted || !tests?.inputs.length || !request || !vscode.workspace.isTrusted) return;
    for (const scored of this.session.ranked) {
      const key = scored.continuation;
      if (this.verdicts.has(key) || this.judging.has(key)) continue;
      this.judging.add(key);
      const code = request.prefix + scored.continuation + request.suffix;
      source
        .judge()
        .judge({ id: `inline-${this.session.id}-${scored.indices[0]}`, code, tests, timeout_s: source.limits.timeoutSeconds, memory_mb: source.limits.memoryMb })
        .then(
          (verdict) => this.verdicts.set(key, verdict),
          (error: unknown) => this.verdicts.set(key, { id: null, error: errorMessage(error) }),
        )
        .finally(() => {
          this.judging.delete(key);
          this.changed.fire();
        });
    }
  }

  cards(): CandidateCard[] {
    const request = this.session.request;
    const current = this.session.document.getText();
    const n = request?.generation.n ?? 0;
    const scored = this.session.ranked.map((c) => this.card(c, current, n));
    const pending = [...this.session.streaming.values()]
      .filter((c) => this.session.ranking?.candidates[c.index]?.state !== 'scored' && this.session.ranking?.candidates[c.index]?.state !== 'empty')
      .map(
        (c): CandidateCard => ({
          key: `pending-${c.index}`,
          label: `sample ${c.index + 1} of ${n}`,
          code: c.generated,
          final: Number.NaN,
          values: [],
          state: this.session.ranking?.candidates[c.index]?.state ?? 'generating',
          verdict: cardVerdict(undefined, 'not scored yet'),
          diff: [],
        }),
      );
    return orderCards([...scored, ...pending]);
  }

  private card(scored: ScoredContinuation, current: string, n: number): CandidateCard {
    const request = this.session.request!;
    const verdict = this.verdicts.get(scored.continuation);
    const offsets = scored.scores.charOffsets;
    const from = offsets.findIndex(([, end]) => end > scored.span[0]);
    const to = offsets.findIndex(([, end]) => end >= scored.span[1]);
    return {
      key: scored.continuation,
      label: scored.indices.length > 1 ? `${scored.indices.length} of ${n} samples wrote this` : `sample ${scored.indices[0] + 1} of ${n}`,
      code: scored.continuation,
      final: scored.final,
      rankedBy: scored.rankedBy,
      values: scored.values,
      ...(from >= 0 ? { span: [from, (to >= 0 ? to : offsets.length - 1) + 1] as [number, number] } : {}),
      state: 'scored',
      verdict: verdict ? cardVerdict(verdict, undefined) : cardVerdict(undefined, this.judging.has(scored.continuation) ? 'running' : this.notRunReason()),
      diff: diffLines(current, request.prefix + scored.continuation + request.suffix),
      finishReason: scored.finishReason,
    };
  }

  /** Inserts the continuation at the session's cursor, if the file is still as it was. */
  async accept(key: string): Promise<string> {
    const session = this.session;
    const scored = session.ranked.find((c) => c.continuation === key);
    if (!scored) throw new Error('That sample is still being written or scored.');
    if (session.document.isClosed || session.document.version !== session.version) {
      throw new Error(`${vscode.workspace.asRelativePath(session.document.uri)} changed since these suggestions were made; trigger a new suggestion there.`);
    }
    // In the column that shows the file already, so the panel stays in view beside it.
    const column = vscode.window.visibleTextEditors.find((e) => e.document === session.document)?.viewColumn;
    const editor = await vscode.window.showTextDocument(session.document, { viewColumn: column, preserveFocus: false });
    if (!(await editor.edit((edit) => edit.insert(session.position, key)))) throw new Error('The editor refused the edit.');
    return `Inserted the continuation with ${rankingValue(scored)}.`;
  }

  dispose(): void {
    this.listener.dispose();
    this.changed.dispose();
  }
}
