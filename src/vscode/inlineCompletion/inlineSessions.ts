import * as vscode from 'vscode';
import type { Critic } from '../../core/critic/types';
import { LeadCache } from '../../core/inlineCompletion/lead';
import { ContinuationRanker } from '../../core/inlineCompletion/rankContinuations';
import { buildInlineRequest, leadRequest, type InlineOptions } from '../../core/inlineCompletion/request';
import { codeAfterTopStatement } from '../../core/problem/extraction';
import { isAbortError } from '../../core/shared/abort';
import type { CriticService } from '../critic/criticService';
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
  private ranker: { critic: Critic; ranker: ContinuationRanker } | undefined;
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
        if (event.document === this.session?.document && event.contentChanges.length) this.session.abort();
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        const session = this.session;
        if (session && event.textEditor.document === session.document && !event.selections[0].active.isEqual(session.position)) session.abort();
      }),
      critics.onDidChange(() => void this.dropRanker()),
      problems.onDidChange(() => this.leads.clear()),
    ];
  }

  /** The latest session, running or ended. */
  get current(): InlineSession | undefined {
    return this.session;
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
      const critic = await this.critics.get(signal);
      const generator = await this.generators.get(signal);
      const ranker = await this.rankerFor(critic);
      const options = inlineOptions(settings);
      session.problem = found.problem;
      session.critic = critic;
      const lead = await this.leads.get(generator, leadRequest(found.problem, critic.info.templates, options), signal);
      const text = session.document.getText();
      const codeFrom = found.source === 'docstring' ? codeAfterTopStatement(text) : 0;
      const request = buildInlineRequest(found.problem, critic.info.templates, text, session.document.offsetAt(session.position), options, lead, codeFrom);
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

  private async rankerFor(critic: Critic): Promise<ContinuationRanker> {
    if (this.ranker?.critic !== critic) {
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
    this.session?.dispose();
    void this.dropRanker();
    this.started.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
