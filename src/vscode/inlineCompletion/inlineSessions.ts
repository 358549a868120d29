import * as vscode from 'vscode';
import type { Critic } from '../../core/critic/types';
import { LeadCache } from '../../core/inlineCompletion/lead';
import { ContinuationRanker } from '../../core/inlineCompletion/rankContinuations';
import { buildInlineRequest, leadRequest, type InlineOptions } from '../../core/inlineCompletion/request';
import { codeAfterTopStatement } from '../../core/problem/extraction';
import { isAbortError } from '../../core/shared/abort';
import { DEFAULT_TEMPLATES } from '../../core/contracts';
import type { CriticService } from '../critic/criticService';
import { tellRankedByLikelihood } from '../critic/selectCritic';
import type { GeneratorService } from '../generation/generatorService';
import { errorMessage, timed } from '../log';
import type { ProblemService } from '../problem/problemService';
import { readSettings, type PassLensSettings } from '../settings';
import { InlineSession } from './inlineSession';

/** Raised when a file has no problem statement: the suggestion needs one, as scoring does. */
export class NoProblemError extends Error {
  constructor(file: string) {
    super(`${file} has no problem statement: add a top docstring or a <name>.md / problem.md beside it, or run PassLens: Set Problem for This File.`);
    this.name = 'NoProblemError';
  }
}

/** The continuations' generation settings: the inline ones, the generator's sampling, FIM only where it can be sent. */
export function inlineOptions(settings: PassLensSettings): InlineOptions {
  const { generator, inline } = settings;
  return {
    n: inline.candidates,
    temperature: generator.temperature,
    topP: generator.topP,
    topK: generator.topK,
    maxNewTokens: inline.maxNewTokens,
    fillInTheMiddle: inline.fillInTheMiddle && generator.backend === 'openai' && generator.api === 'completions',
  };
}

/**
 * Owns the inline suggestion sessions: at most one runs; a newer request, an edit of its
 * document or a cursor move away ends it, which aborts generation and critic scoring
 * through its AbortSignal. Keeps one ContinuationRanker per loaded critic (its kept prefix
 * stream makes typing forward cheap) and the generator's lead per problem.
 */
export class InlineSessions implements vscode.Disposable {
  private session: InlineSession | undefined;
  private pending: { document: vscode.TextDocument; version: number; position: vscode.Position; session: Promise<InlineSession | undefined>; cancel(): void } | undefined;
  private ranker: { critic: Critic | undefined; ranker: ContinuationRanker } | undefined;
  /** Said once per window: with no critic configured, suggestions are ranked by likelihood. */
  private toldNoCritic = false;
  private readonly leads = new LeadCache();
  private readonly started = new vscode.EventEmitter<InlineSession>();
  /** Fires for each new session (the status bar and the candidates store follow it). */
  readonly onDidStart = this.started.event;
  private readonly disposables: vscode.Disposable[];

  constructor(
    private readonly generators: GeneratorService,
    private readonly critics: CriticService,
    private readonly problems: ProblemService,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables = [
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (!event.contentChanges.length) return;
        if (event.document === this.session?.document) this.session.abort();
        if (event.document === this.pending?.document) this.cancelPending();
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        const session = this.session;
        const moved = (document: vscode.TextDocument, position: vscode.Position) => event.textEditor.document === document && !event.selections[0].active.isEqual(position);
        if (session && moved(session.document, session.position)) session.abort();
        if (this.pending && moved(this.pending.document, this.pending.position)) this.cancelPending();
      }),
      critics.onDidChange(() => void this.dropRanker()),
      problems.onDidChange(() => this.leads.clear()),
    ];
  }

  /** The latest session, running or ended. */
  get current(): InlineSession | undefined {
    return this.session;
  }

  /**
   * An automatic session at `position` once typing has paused for `ms`: the same promise for
   * every request at that place and document version; undefined when an edit or a cursor
   * move comes first. The pause is PassLens' own: the editor cancels and repeats its requests
   * while the user is idle, so its cancellation cannot tell a pause from typing.
   */
  startAfterPause(document: vscode.TextDocument, position: vscode.Position, ms: number): Promise<InlineSession | undefined> {
    const pending = this.pending;
    if (pending && pending.document === document && pending.version === document.version && pending.position.isEqual(position)) return pending.session;
    this.cancelPending();
    let resolve!: (session: InlineSession | undefined) => void;
    const session = new Promise<InlineSession | undefined>((r) => (resolve = r));
    const version = document.version;
    const timer = setTimeout(() => {
      this.pending = undefined;
      const editor = vscode.window.activeTextEditor;
      const still = editor?.document === document && document.version === version && editor.selection.active.isEqual(position);
      resolve(still ? this.start(document, position, false) : undefined);
    }, ms);
    this.pending = { document, version, position, session, cancel: () => (clearTimeout(timer), resolve(undefined)) };
    return session;
  }

  private cancelPending(): void {
    this.pending?.cancel();
    this.pending = undefined;
  }

  /** Starts a session at `position` (ending the one before) and returns it at once; it runs in the background. */
  start(document: vscode.TextDocument, position: vscode.Position, explicit: boolean): InlineSession {
    this.session?.dispose();
    const session = new InlineSession(document, document.version, position, explicit);
    this.session = session;
    this.started.fire(session);
    void this.run(session);
    return session;
  }

  private async run(session: InlineSession): Promise<void> {
    const signal = session.signal;
    const settings = readSettings();
    const where = `${vscode.workspace.asRelativePath(session.document.uri)}:${session.position.line + 1}`;
    try {
      const found = await this.problems.problemFor(session.document);
      if (!found) throw new NoProblemError(vscode.workspace.asRelativePath(session.document.uri));
      // No critic configured: continuations are ranked by the generator's likelihood, as best-of-n is.
      const critic = await this.critics.getIfConfigured(signal);
      if (!critic && session.explicit && !this.toldNoCritic) {
        this.toldNoCritic = true;
        tellRankedByLikelihood('inline suggestions', this.log);
      }
      const templates = critic?.info.templates ?? DEFAULT_TEMPLATES;
      const generator = await this.generators.get(signal);
      const ranker = await this.rankerFor(critic);
      const options = inlineOptions(settings);
      session.problem = found.problem;
      session.critic = critic;
      const lead = await this.leads.get(generator, leadRequest(found.problem, templates, options), signal);
      const text = session.document.getText();
      const codeFrom = found.source === 'docstring' ? codeAfterTopStatement(text) : 0;
      const request = buildInlineRequest(found.problem, templates, text, session.document.offsetAt(session.position), options, lead, codeFrom);
      session.request = request;
      const ranking = await timed(this.log, `inline suggestions at ${where} (${options.n} with ${generator.name})`, () =>
        ranker.rank(generator, request, signal, { onRanking: (r) => session.update(r), onText: (c) => session.text(c) }),
      );
      session.update(ranking);
      session.end();
      if (!ranking.ranked.length && session.explicit) vscode.window.setStatusBarMessage(`PassLens: none of the ${options.n} samples continues the code here`, 5000);
      this.log.info(`inline suggestions at ${where}: ${ranking.ranked.length} distinct, first after ${session.timings.first?.toFixed(0) ?? '—'} ms, ranked after ${session.timings.final?.toFixed(0)} ms`);
    } catch (error) {
      session.end(error);
      // Typing in a file without a problem would log this at every pause: only asked-for ones are.
      const quiet = error instanceof NoProblemError && !session.explicit;
      if (!isAbortError(error) && !signal.aborted && !quiet) this.log.warn(`inline suggestions at ${where}: ${errorMessage(error)}`);
    } finally {
      this.generators.idle();
      if (!settings.liveConfidence.enabled) this.critics.idle();
    }
  }

  private async rankerFor(critic: Critic | undefined): Promise<ContinuationRanker> {
    if (!this.ranker || this.ranker.critic !== critic) {
      await this.dropRanker();
      this.ranker = { critic, ranker: new ContinuationRanker(critic) };
    }
    return this.ranker.ranker;
  }

  private async dropRanker(): Promise<void> {
    const old = this.ranker;
    this.ranker = undefined;
    // The stream may belong to a critic already released; closing it is best effort.
    await old?.ranker.dispose().catch(() => undefined);
  }

  dispose(): void {
    this.cancelPending();
    this.session?.dispose();
    void this.dropRanker();
    this.started.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
