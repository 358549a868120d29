import { join } from 'node:path';
import * as vscode from 'vscode';
import {
  SandboxClient,
  WEAK_ISOLATION_WARNING,
  allowWeakHint,
  isWeakIsolation,
  type JudgeResponse,
  type SandboxUnavailableError,
} from '../../core/sandbox';
import { UntrustedWorkspaceError } from '../../core/shared/trust';
import type { Judge } from '../../core/generateAndRank/bestOfN';
import { readSettings, type PassLensSettings } from '../settings';

export interface DisposableJudge extends Judge {
  dispose(): Promise<void> | void;
  /** Set once the judge has found it cannot isolate here; a fresh one is started on the next use. */
  readonly unavailable?: SandboxUnavailableError;
}

/** Starts the sandbox judge for the sandbox settings (SandboxClient over python-sandbox/judge.py). */
export type JudgeFactory = (settings: PassLensSettings['sandbox'], trusted: boolean) => DisposableJudge;

/** The judge shipped in the .vsix (python-sandbox/judge.py beside dist/). */
export function createJudge(extensionPath: string): JudgeFactory {
  return (settings, trusted) =>
    new SandboxClient({
      pythonPath: settings.pythonPath,
      judgePath: join(extensionPath, 'python-sandbox', 'judge.py'),
      trusted,
      allowWeakIsolation: settings.allowWeakIsolation,
    });
}

/** How the editor's refusal tells the user to allow weak isolation. */
export const EDITOR_WEAK_HINT = allowWeakHint('turn on the setting passlens.sandbox.allowWeakIsolation (user settings)');

/**
 * Owns the sandbox judge process; refuses to start it in an untrusted workspace. Says once
 * per session when the sandbox cannot isolate here, and once when verdicts come from weak
 * isolation.
 */
export class SandboxService implements vscode.Disposable {
  private judge: DisposableJudge | undefined;
  private startedFor: string | undefined;
  private toldUnavailable = false;
  private warnedWeak = false;

  constructor(private readonly factory: JudgeFactory, private readonly log: vscode.LogOutputChannel) {}

  /** The judge, started if needed; throws UntrustedWorkspaceError when the workspace is not trusted. */
  get(): Judge {
    if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
    const settings = readSettings().sandbox;
    const key = JSON.stringify(settings);
    // A judge that could not isolate is replaced: bubblewrap may have been installed since.
    if (!this.judge || this.startedFor !== key || this.judge.unavailable) {
      void this.release();
      this.judge = this.factory(settings, vscode.workspace.isTrusted);
      this.startedFor = key;
      this.log.info(`sandbox started with ${settings.pythonPath}${settings.allowWeakIsolation ? ' (weak isolation allowed)' : ''}`);
    }
    return this.judge;
  }

  get limits(): { timeoutSeconds: number; memoryMb: number } {
    const { timeoutSeconds, memoryMb } = readSettings().sandbox;
    return { timeoutSeconds, memoryMb };
  }

  /** The sandbox cannot run here: shown once per session with the judge's reason and the fix, logged every time. */
  reportUnavailable(error: SandboxUnavailableError, always = false): void {
    this.log.warn(`sandbox unavailable: ${error.message}`);
    if (this.toldUnavailable && !always) return;
    this.toldUnavailable = true;
    void vscode.window
      .showErrorMessage(`PassLens cannot run candidates in a sandbox here: ${error.message} ${EDITOR_WEAK_HINT}`, 'Open Setting')
      .then((choice) => choice && vscode.commands.executeCommand('workbench.action.openSettings', 'passlens.sandbox.allowWeakIsolation'));
  }

  /** Warns once per session when any of `responses` ran under weak isolation. */
  noteVerdicts(responses: ReadonlyArray<JudgeResponse | undefined>): void {
    if (this.warnedWeak || !responses.some((r) => isWeakIsolation(r))) return;
    this.warnedWeak = true;
    this.log.warn(WEAK_ISOLATION_WARNING);
    void vscode.window.showWarningMessage(`PassLens: ${WEAK_ISOLATION_WARNING}`);
  }

  async release(): Promise<void> {
    const judge = this.judge;
    this.judge = undefined;
    this.startedFor = undefined;
    if (judge) {
      await judge.dispose();
      this.log.info('sandbox stopped');
    }
  }

  onSettingsChanged(settings: PassLensSettings): void {
    if (this.startedFor !== undefined && this.startedFor !== JSON.stringify(settings.sandbox)) void this.release();
  }

  dispose(): void {
    void this.release();
  }
}
