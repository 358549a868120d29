import * as vscode from 'vscode';
import { sameOrder, type ScoredContinuation } from '../../core/inlineCompletion/rankContinuations';
import type { InlineSession } from './inlineSession';

/** Context key that routes Alt+], Alt+[, Escape and Ctrl+Enter to PassLens while its suggestion shows. */
export const RANKED_CONTEXT = 'passlens.inlineRanked';

const pct = (v: number) => (Number.isNaN(v) ? '—' : `${(v * 100).toFixed(0)}%`);

/** A continuation's ranking value: its p(pass) as a percentage, or its mean log-prob when no critic ranked it. */
const shownValue = (c: ScoredContinuation) => (c.rankedBy === 'likelihood' ? (Number.isNaN(c.final) ? '—' : c.final.toFixed(2)) : pct(c.final));

/** The ranking value, named: "p(pass) 71%" or "likelihood -0.42". */
export function rankingValue(c: ScoredContinuation): string {
  return `${c.rankedBy === 'likelihood' ? 'likelihood' : 'p(pass)'} ${shownValue(c)}`;
}

/**
 * While a PassLens suggestion shows: its rank and p(pass) in the status bar ("PassLens 2/4
 * · p(pass) 71%", behind a spinner until every continuation is scored), the whole ranking in the tooltip, and a click opens the candidates
 * panel. The inline API does not report which item the editor shows, so the rank follows
 * the list the provider returned and the next/previous commands PassLens binds to Alt+] and Alt+[.
 */
export class InlineStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('passlens.inline', vscode.StatusBarAlignment.Right, 101);
  private session: InlineSession | undefined;
  private sessionListener: vscode.Disposable | undefined;

  constructor() {
    this.item.name = 'PassLens inline suggestion';
    this.item.command = 'passlens.showCandidates';
  }

  /** The session whose list the editor now shows, from its first item. */
  showing(session: InlineSession): void {
    if (this.session !== session) {
      this.sessionListener?.dispose();
      this.session = session;
      this.sessionListener = session.onDidChange(() => this.render());
    }
    void vscode.commands.executeCommand('setContext', RANKED_CONTEXT, true);
    this.render();
  }

  /** The suggestion went away (accepted, dismissed, or its session ended for an edit). */
  hide(): void {
    this.sessionListener?.dispose();
    this.sessionListener = undefined;
    if (this.session) this.session.shown = undefined;
    this.session = undefined;
    void vscode.commands.executeCommand('setContext', RANKED_CONTEXT, false);
    this.item.hide();
  }

  private render(): void {
    const session = this.session;
    const shown = session?.shown;
    const list = session?.provided ?? [];
    if (!session || shown === undefined || !list[shown]) {
      this.item.hide();
      return;
    }
    const current = list[shown];
    // A spinning icon until the list the editor walks is final: continuations are still being
    // written and scored, or the editor has yet to fetch the final order (unless the user walks it already).
    const settled = session.done && (shown !== 0 || sameOrder(list, session.ranked));
    this.item.text = `$(${settled ? 'sparkle' : 'sync~spin'}) PassLens ${shown + 1}/${list.length} · ${rankingValue(current)}`;
    this.item.tooltip = this.tooltip(session, list, shown);
    const unlikely = current.rankedBy === 'critic' && current.final < 0.2;
    this.item.backgroundColor = unlikely ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  private tooltip(session: InlineSession, list: ScoredContinuation[], shown: number): vscode.MarkdownString {
    const n = session.request?.generation.n ?? list.length;
    const rows = list.map((c, i) => {
      const first = c.continuation.split('\n').find((l) => l.trim())?.trim() ?? '';
      const samples = c.indices.length > 1 ? ` ×${c.indices.length}` : '';
      const line = `${i + 1}. **${shownValue(c)}**${samples} \`${first.replace(/`/g, "'").slice(0, 60)}\``;
      return i === shown ? `${line} ← shown` : line;
    });
    const pending = session.done ? '' : `\n\n$(sync~spin) ${n - (session.ranking?.candidates.filter((c) => c.state === 'scored' || c.state === 'empty').length ?? 0)} of ${n} still being written`;
    const heading = list[0]?.rankedBy === 'likelihood'
      ? "**PassLens: continuations by the generator's likelihood** (mean log-prob; no critic configured, so not a p(pass))"
      : "**PassLens: continuations by the critic's p(pass)**";
    const markdown = new vscode.MarkdownString(
      `${heading} (${n} sampled)\n\n${rows.join('\n\n')}${pending}\n\nAlt+] / Alt+[ next / previous · Tab accepts · [Candidates panel](command:passlens.showCandidates) (Ctrl+Enter)`,
      true,
    );
    markdown.isTrusted = { enabledCommands: ['passlens.showCandidates'] };
    return markdown;
  }

  dispose(): void {
    this.sessionListener?.dispose();
    this.item.dispose();
  }
}
