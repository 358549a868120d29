import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { CandidateCard } from '../../core/generateAndRank/candidateCards';
import { errorMessage } from '../log';
import { candidatesHtml } from './candidatesPanelHtml';

/** Candidates the panel can show: a Generate and Rank run or an inline suggestion's continuations. */
export interface CandidateSource {
  readonly title: string;
  /** A line under the title (what was asked, by which models). */
  readonly detail: string;
  readonly onDidChange: vscode.Event<void>;
  /** False while candidates are still generated or scored. */
  readonly done: boolean;
  /** Cards best first (`orderCards`). */
  cards(): CandidateCard[];
  /** Puts the candidate into its document; resolves with what happened, in words. */
  accept(key: string): Promise<string>;
  /** The panel started showing it: work only worth doing for a viewer starts here (sandbox verdicts). */
  opened?(): void;
}

/** What the webview shows; also what the editor tests read. */
export interface PanelView {
  title: string;
  detail: string;
  done: boolean;
  cards: CandidateCard[];
}

type FromWebview = { type: 'ready' } | { type: 'accept'; key: string };

/** Updates to the webview are coalesced: candidates stream token by token. */
const POST_INTERVAL_MS = 100;

/**
 * The candidates panel: every candidate side by side with its p(pass), confidence curve,
 * sandbox verdict and a diff against the current file, each with an Accept button. It
 * follows its source as candidates stream in and are scored. One panel; showing another
 * source replaces the one it shows.
 */
export class CandidatesPanel implements vscode.Disposable {
  private static current: CandidatesPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private sourceListener: vscode.Disposable | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private status = '';

  static show(extensionUri: vscode.Uri, source: CandidateSource): CandidatesPanel {
    if (CandidatesPanel.current) {
      CandidatesPanel.current.follow(source);
      CandidatesPanel.current.panel.reveal(vscode.ViewColumn.Beside, false);
      return CandidatesPanel.current;
    }
    const panel = vscode.window.createWebviewPanel('passlens.candidates', 'PassLens: Candidates', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false }, {
      enableScripts: true,
      localResourceRoots: [],
      retainContextWhenHidden: false,
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'passlens.svg');
    CandidatesPanel.current = new CandidatesPanel(panel, source);
    return CandidatesPanel.current;
  }

  /** The open panel, if any (the editor tests read it). */
  static get open(): CandidatesPanel | undefined {
    return CandidatesPanel.current;
  }

  static disposeCurrent(): void {
    CandidatesPanel.current?.dispose();
  }

  private constructor(private readonly panel: vscode.WebviewPanel, private source: CandidateSource) {
    const nonce = randomBytes(16).toString('base64');
    panel.webview.html = candidatesHtml(panel.webview.cspSource, nonce);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((message: FromWebview) => void this.receive(message)),
    );
    this.follow(source);
  }

  /** The view model the webview was last sent (or would be sent now). */
  view(): PanelView {
    return { title: this.source.title, detail: this.source.detail, done: this.source.done, cards: this.source.cards() };
  }

  /** Handles a webview message: 'ready' asks for the view, 'accept' puts a candidate in. */
  async receive(message: FromWebview): Promise<void> {
    if (message.type === 'ready') this.post();
    if (message.type === 'accept') {
      try {
        this.status = await this.source.accept(message.key);
      } catch (error) {
        this.status = errorMessage(error);
        void vscode.window.showWarningMessage(`PassLens: ${this.status}`);
      }
      this.post();
    }
  }

  private follow(source: CandidateSource): void {
    this.sourceListener?.dispose();
    this.source = source;
    this.status = '';
    this.sourceListener = source.onDidChange(() => this.schedulePost());
    source.opened?.();
    this.post();
  }

  private schedulePost(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.post();
    }, POST_INTERVAL_MS);
  }

  private post(): void {
    void this.panel.webview.postMessage({ type: 'view', status: this.status, ...this.view() });
  }

  dispose(): void {
    if (CandidatesPanel.current === this) CandidatesPanel.current = undefined;
    clearTimeout(this.timer);
    this.sourceListener?.dispose();
    this.disposables.forEach((d) => d.dispose());
    this.panel.dispose();
  }
}
