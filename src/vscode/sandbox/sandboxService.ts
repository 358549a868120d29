import * as vscode from 'vscode';
import type { Judge } from '../../core/bestOfN';
import { readSettings, type PassLensSettings } from '../settings';

export interface DisposableJudge extends Judge {
  dispose(): Promise<void> | void;
}

/** Starts the sandbox judge for the sandbox settings (SandboxClient over python-sandbox/judge.py). */
export type JudgeFactory = (settings: PassLensSettings['sandbox'], trusted: boolean) => DisposableJudge;

export class UntrustedWorkspaceError extends Error {
  constructor() {
    super('PassLens runs model-written code only in a trusted workspace. Trust this workspace to run candidates in the sandbox.');
    this.name = 'UntrustedWorkspaceError';
  }
}

/** Owns the sandbox judge process; refuses to start it in an untrusted workspace. */
export class SandboxService implements vscode.Disposable {
  private judge: DisposableJudge | undefined;
  private startedFor: string | undefined;

  constructor(private readonly factory: JudgeFactory, private readonly log: vscode.LogOutputChannel) {}

  /** The judge, started if needed; throws UntrustedWorkspaceError when the workspace is not trusted. */
  get(): Judge {
    if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError();
    const settings = readSettings().sandbox;
    const key = JSON.stringify(settings);
    if (!this.judge || this.startedFor !== key) {
      void this.release();
      this.judge = this.factory(settings, vscode.workspace.isTrusted);
      this.startedFor = key;
      this.log.info(`sandbox started with ${settings.pythonPath}`);
    }
    return this.judge;
  }

  get limits(): { timeoutSeconds: number; memoryMb: number } {
    const { timeoutSeconds, memoryMb } = readSettings().sandbox;
    return { timeoutSeconds, memoryMb };
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
