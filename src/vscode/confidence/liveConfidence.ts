import * as vscode from 'vscode';
import { LatestRunScheduler } from '../../core/shared/debounce';
import { errorMessage, isCancellation } from '../log';
import type { CriticService } from '../critic/criticService';
import { readSettings, type PassLensSettings } from '../settings';
import type { ConfidenceController } from './confidenceController';
import type { ScoreStore } from './scoreStore';
import { offerCriticFix } from '../critic/selectCritic';

/**
 * Live confidence: re-scores the active Python file after each pause in typing. Runs are
 * debounced, the newest edit cancels a run in flight, and scoring is all asynchronous so
 * typing never waits. Turning it off frees the critic and its caches.
 */
export class LiveConfidence implements vscode.Disposable {
  private readonly scheduler: LatestRunScheduler;
  private listeners: vscode.Disposable[] = [];
  private enabled = false;
  private errorShown = false;

  constructor(
    private readonly controller: ConfidenceController,
    private readonly critics: CriticService,
    private readonly store: ScoreStore,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const settings = readSettings().liveConfidence;
    this.scheduler = new LatestRunScheduler(settings.debounceMs);
    this.apply(readSettings());
  }

  /**
   * The toggle command: flips the setting where it is effectively set (a workspace value
   * would override a global one), and apply() then follows the change.
   */
  async toggle(): Promise<void> {
    const config = vscode.workspace.getConfiguration('passlens');
    const where = config.inspect<boolean>('liveConfidence.enabled');
    const target =
      where?.workspaceFolderValue !== undefined
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : where?.workspaceValue !== undefined
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    await config.update('liveConfidence.enabled', !this.enabled, target);
  }

  apply(settings: PassLensSettings): void {
    this.scheduler.setDelay(settings.liveConfidence.debounceMs);
    if (settings.liveConfidence.enabled === this.enabled) return;
    this.enabled = settings.liveConfidence.enabled;
    void vscode.commands.executeCommand('setContext', 'passlens.liveConfidence', this.enabled);
    if (this.enabled) this.start();
    else void this.stop();
  }

  private start(): void {
    this.log.info('live confidence on');
    this.errorShown = false;
    this.listeners = [
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.contentChanges.length && event.document === vscode.window.activeTextEditor?.document) this.request(event.document);
      }),
      vscode.window.onDidChangeActiveTextEditor((editor) => editor && this.request(editor.document)),
      this.critics.onDidChange(() => {
        const document = vscode.window.activeTextEditor?.document;
        if (document) this.request(document);
      }),
    ];
    const document = vscode.window.activeTextEditor?.document;
    if (document) this.request(document);
  }

  private async stop(): Promise<void> {
    this.log.info('live confidence off: releasing the critic');
    this.scheduler.cancel();
    this.listeners.forEach((d) => d.dispose());
    this.listeners = [];
    this.store.clear();
    await this.controller.releaseScorers();
    await this.critics.release(false);
  }

  private request(document: vscode.TextDocument): void {
    if (document.languageId !== 'python') return;
    this.scheduler
      .schedule((signal) => this.controller.score(document, signal))
      .catch((error: unknown) => {
        if (isCancellation(error)) return;
        this.log.warn(`live confidence: ${errorMessage(error)}`);
        // One prompt per session of live mode; the status bar keeps showing the error after that.
        if (!this.errorShown) {
          this.errorShown = true;
          void offerCriticFix(error);
        }
      });
  }

  dispose(): void {
    this.scheduler.dispose();
    this.listeners.forEach((d) => d.dispose());
  }
}
