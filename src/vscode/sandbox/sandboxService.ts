import { join } from 'node:path';
import * as vscode from 'vscode';
import { SandboxClient } from '../../core/sandbox';
import { UntrustedWorkspaceError } from '../../core/shared/trust';
import type { Judge } from '../../core/generateAndRank/bestOfN';
import { readSettings, type PassLensSettings } from '../settings';

export interface DisposableJudge extends Judge {
  dispose(): Promise<void> | void;
}

/** Starts the sandbox judge for the sandbox settings (SandboxClient over python-sandbox/judge.py). */
export type JudgeFactory = (settings: PassLensSettings['sandbox'], trusted: boolean) => DisposableJudge;

/** Owns the sandbox judge process; refuses to start it in an untrusted workspace. */
/** The judge shipped in the .vsix (python-sandbox/judge.py beside dist/). */
export function createJudge(extensionPath: string): JudgeFactory {
  return (settings, trusted) =>
    new SandboxClient({ pythonPath: settings.pythonPath, judgePath: join(extensionPath, 'python-sandbox', 'judge.py'), trusted });
}

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
