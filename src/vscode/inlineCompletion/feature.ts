import * as vscode from 'vscode';
import { sameOrder } from '../../core/inlineCompletion/rankContinuations';
import type { CriticService } from '../critic/criticService';
import type { CandidateStore } from '../generateAndRank/candidateStore';
import type { GeneratorService } from '../generation/generatorService';
import type { ProblemService } from '../problem/problemService';
import type { SandboxService } from '../sandbox/sandboxService';
import type { InlineSession } from './inlineSession';
import { InlineSessions } from './inlineSessions';
import { InlineStatusBar, rankingValue } from './inlineStatusBar';
import { ACCEPTED_COMMAND, ghostText, RankedInlineCompletionProvider } from './provider';
import { SessionCards } from './sessionCards';

/** What the editor tests reach: the sessions (the current one's ranking, timings, the list the editor got). */
export interface InlineFeature {
  sessions: InlineSessions;
}

/** Scored continuations re-rank the shown list this long after the last one (coalesces a burst). */
const REFRESH_DELAY_MS = 50;

/**
 * Ranked inline suggestions: the provider, PassLens: Suggest Ranked Continuations, the
 * status bar while a suggestion shows, Alt+] / Alt+[ / Escape while it does, and the
 * session's candidates for the candidates panel (Ctrl+Enter, or the status bar item).
 */
export function registerInlineCompletion(
  context: vscode.ExtensionContext,
  deps: { generators: GeneratorService; critics: CriticService; problems: ProblemService; sandbox: SandboxService; candidates: CandidateStore; log: vscode.LogOutputChannel },
): InlineFeature {
  const sessions = new InlineSessions(deps.generators, deps.critics, deps.problems, deps.log);
  const statusBar = new InlineStatusBar();
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;

  /** Whether `session`'s suggestion can still be on screen: its editor focused, its cursor in place. */
  const onScreen = (session: InlineSession) => {
    const editor = vscode.window.activeTextEditor;
    return editor?.document === session.document && editor.selection.active.isEqual(session.position) && session.shown !== undefined && !session.signal.aborted;
  };

  /**
   * Shows the newest ranking: the editor keeps the item on screen first when it fetches
   * again, so the list is hidden and fetched anew. Only while the user still looks at the
   * first item: once they walk the list it stays as it is.
   */
  const refresh = (session: InlineSession) => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      if (!onScreen(session) || session.shown !== 0 || sameOrder(session.provided, session.ranked)) return;
      await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
      await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
    }, REFRESH_DELAY_MS);
  };

  /**
   * The editor stopped waiting before the first continuation was scored (it cancels and
   * re-asks on its own, not only when the user types): the session goes on while the file
   * and cursor stay as they were, and its suggestion is shown when it comes, once.
   */
  const shownLate = new WeakSet<InlineSession>();
  const showLate = (session: InlineSession) => {
    const editor = vscode.window.activeTextEditor;
    if (shownLate.has(session) || session.signal.aborted || editor?.document !== session.document || session.document.version !== session.version || !editor.selection.active.isEqual(session.position)) return;
    shownLate.add(session);
    void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
  };

  const provider = new RankedInlineCompletionProvider(sessions, (session, items) => {
    session.provided = items;
    session.shown = items.length ? 0 : undefined;
    if (items.length) statusBar.showing(session);
    else statusBar.hide();
  });

  const cycle = async (session: InlineSession | undefined, step: 1 | -1) => {
    await vscode.commands.executeCommand(step === 1 ? 'editor.action.inlineSuggest.showNext' : 'editor.action.inlineSuggest.showPrevious');
    if (!session || session.shown === undefined || !session.provided.length) return;
    session.shown = (session.shown + step + session.provided.length) % session.provided.length;
    statusBar.showing(session);
  };

  context.subscriptions.push(
    sessions,
    statusBar,
    sessions.onDidStart((session) => {
      statusBar.hide();
      deps.candidates.setLive(new SessionCards(session, { judge: () => deps.sandbox.get(), get limits() { return deps.sandbox.limits; } }));
      session.onDidChange(() => {
        if (session.provided.length) refresh(session);
        else if (session.ranked.length && !provider.isWaiting(session)) showLate(session);
      });
    }),
    vscode.languages.registerInlineCompletionItemProvider({ language: 'python' }, provider),
    vscode.commands.registerCommand('passlens.suggestInline', async () => {
      if (!vscode.workspace.getConfiguration('editor', { languageId: 'python' }).get('inlineSuggest.enabled', true)) {
        void vscode.window.showWarningMessage('PassLens: inline suggestions are turned off (editor.inlineSuggest.enabled).');
        return;
      }
      await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
    }),
    vscode.commands.registerCommand('passlens.inline.showNext', () => cycle(sessions.current, 1)),
    vscode.commands.registerCommand('passlens.inline.showPrevious', () => cycle(sessions.current, -1)),
    vscode.commands.registerCommand('passlens.inline.hide', async () => {
      await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
      sessions.current?.abort();
      statusBar.hide();
    }),
    // Accepting records nothing but a line in the PassLens log: no file, state or network.
    vscode.commands.registerCommand(ACCEPTED_COMMAND, async (sessionId: number, rank: number) => {
      const session = sessions.current;
      statusBar.hide();
      if (session?.id !== sessionId) return;
      const accepted = session.provided[rank];
      deps.log.info(`inline suggestion accepted: ${rank + 1} of ${session.provided.length}, ${accepted ? rankingValue(accepted) : '?'}`);
      // The line breaks the ghost text left out (ghostText) go in after it: the p(pass) shown was the file's with them.
      const shown = accepted && ghostText(accepted.continuation, session.position);
      const editor = vscode.window.activeTextEditor;
      if (!accepted || !shown || shown === accepted.continuation || editor?.document !== session.document) return;
      const end = session.document.positionAt(session.document.offsetAt(session.position) + shown.length);
      if (session.document.getText(new vscode.Range(session.position, end)) === shown) {
        await editor.edit((edit) => edit.insert(end, accepted.continuation.slice(shown.length)), { undoStopBefore: false, undoStopAfter: true });
      }
    }),
    vscode.window.onDidChangeTextEditorSelection((event) => {
      const session = sessions.current;
      if (session && event.textEditor.document === session.document && !event.selections[0].active.isEqual(session.position)) statusBar.hide();
    }),
    { dispose: () => clearTimeout(refreshTimer) },
  );
  return { sessions };
}
