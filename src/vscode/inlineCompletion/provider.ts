import * as vscode from 'vscode';
import type { ScoredContinuation } from '../../core/inlineCompletion/rankContinuations';
import { isAbortError } from '../../core/shared/abort';
import { offerCriticFix } from '../critic/selectCritic';
import { readSettings } from '../settings';
import type { InlineSession } from './inlineSession';
import type { InlineSessions } from './inlineSessions';

/** Runs after the editor inserted a suggestion: (session id, rank in the list). */
export const ACCEPTED_COMMAND = 'passlens.inline.accepted';

/**
 * The item's text as the editor can show it as ghost text. The editor moves an insertion at
 * the start of a line that ends in a line break to the end of the line above (line break
 * first), where the cursor is not, and then offers it only as an inline edit behind a gutter
 * icon: there, the last line breaks are left out.
 */
export function ghostText(continuation: string, position: vscode.Position): string {
  return position.character === 0 && position.line > 0 ? continuation.replace(/(?:\r?\n)+$/, '') : continuation;
}

/** Resolves true after `ms`, false as soon as `token` is cancelled. */
function pause(ms: number, token: vscode.CancellationToken): Promise<boolean> {
  if (token.isCancellationRequested) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      listener.dispose();
      resolve(true);
    }, ms);
    const listener = token.onCancellationRequested(() => {
      clearTimeout(timer);
      listener.dispose();
      resolve(false);
    });
  });
}

/**
 * Ranked inline suggestions for Python: on an explicit trigger (Alt+\, PassLens: Suggest
 * Ranked Continuations) and, with passlens.inline.automatic, after a pause in typing. The
 * answer comes as soon as the first continuation is scored; as more are scored the session
 * asks the editor to fetch again (`refresh`), and a request at the same position and
 * version is answered from the session at once. Items come best first by the critic, so
 * Alt+] walks down the ranking.
 */
export class RankedInlineCompletionProvider implements vscode.InlineCompletionItemProvider {
  private readonly waiting = new Map<InlineSession, number>();

  constructor(
    private readonly sessions: InlineSessions,
    /** Called with each list handed to the editor (the status bar and refreshes follow it). */
    private readonly onProvided: (session: InlineSession, items: ScoredContinuation[]) => void,
  ) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionList | undefined> {
    // While the suggest widget is open the editor only shows inline items that extend its
    // selection; ours continue the code instead.
    if (context.selectedCompletionInfo) return undefined;
    let session = this.sessions.current;
    if (!session?.matches(document, position)) {
      const explicit = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
      const settings = readSettings().inline;
      if (!explicit && !settings.automatic) return undefined;
      if (!explicit && !(await pause(settings.debounceMs, token))) return undefined;
      session = this.sessions.start(document, position, explicit);
    }
    const answered = await this.waitForFirst(session, token);
    if (!answered) return undefined;
    if (session.error && !isAbortError(session.error) && session.explicit && !session.signal.aborted) {
      void offerCriticFix(session.error);
      return undefined;
    }
    const items = session.ranked;
    this.onProvided(session, items);
    return new vscode.InlineCompletionList(
      items.map(
        (scored, rank) =>
          new vscode.InlineCompletionItem(ghostText(scored.continuation, position), new vscode.Range(position, position), {
            command: ACCEPTED_COMMAND,
            title: 'PassLens: suggestion accepted',
            arguments: [session.id, rank],
          }),
      ),
    );
  }

  /**
   * Waits for the session's first scored continuation. A request cancelled before then
   * (the user typed, pressed Escape, moved on) ends the session when no other request waits on it.
   */
  private async waitForFirst(session: InlineSession, token: vscode.CancellationToken): Promise<boolean> {
    this.waiting.set(session, (this.waiting.get(session) ?? 0) + 1);
    const cancelled = new Promise<void>((resolve) => token.onCancellationRequested(() => resolve()));
    try {
      await Promise.race([session.firstResult, cancelled]);
    } finally {
      const left = (this.waiting.get(session) ?? 1) - 1;
      if (left) this.waiting.set(session, left);
      else this.waiting.delete(session);
      if (token.isCancellationRequested && !left && !session.ranked.length) session.abort();
    }
    return !token.isCancellationRequested;
  }
}
