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
      const started = explicit ? this.sessions.start(document, position, true) : await this.sessions.startAfterPause(document, position, settings.debounceMs);
      // A session started after the editor stopped waiting shows its suggestion when it comes (feature.ts).
      if (!started || token.isCancellationRequested) return undefined;
      session = started;
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

  /** Whether a request of the editor waits for `session`'s first continuation now. */
  isWaiting(session: InlineSession): boolean {
    return this.waiting.has(session);
  }

  /**
   * Waits for the session's first scored continuation. A cancelled request leaves the
   * session running: the editor cancels and asks again on its own, and what makes a
   * session stale (an edit, the cursor moving, a newer request, Escape) ends it elsewhere.
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
    }
    return !token.isCancellationRequested;
  }
}
