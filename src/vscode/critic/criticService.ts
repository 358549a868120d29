import * as vscode from 'vscode';
import { createRemoteCritic, loadCritic, readCalibration } from '../../core/critic';
import type { Critic } from '../../core/critic/types';
import { readSettings, type PassLensSettings } from '../settings';
import { timed } from '../log';
import type { OriginAccess } from '../trust/originAccess';

/** Loads a critic for the critic part of the settings (a bundle folder or a vLLM server). */
export type CriticLoader = (settings: PassLensSettings['critic'], signal?: AbortSignal) => Promise<Critic>;

/**
 * The critic runtimes the settings can name: a bundle folder (onnxruntime-node; model files'
 * verified hashes cached in `hashCacheDir`; its manifest carries the calibration) or a vLLM
 * server (the key of its origin, the user's approval before the first request, and the
 * calibration from passlens.critic.calibrationFile).
 */
export function configuredCriticLoader(access: OriginAccess, hashCacheDir: string): CriticLoader {
  return async (settings) =>
    settings.backend === 'vllm'
      ? createRemoteCritic({
          url: settings.url,
          calibration: settings.calibrationFile ? readCalibration(settings.calibrationFile) : null,
          ...(await access.policyFor(settings.url, 'the critic server')),
        })
      : loadCritic({ bundlePath: settings.bundlePath, executionProvider: settings.executionProvider, hashCacheDir });
}

/** How long a critic used only by one-off commands stays loaded. */
const IDLE_RELEASE_MS = 5 * 60_000;

export class NoCriticError extends Error {
  constructor() {
    super('No critic model is configured. Pick a critic bundle folder (PassLens: Select Critic Model).');
    this.name = 'NoCriticError';
  }
}

/**
 * Owns the one loaded critic: loads it on first use, reloads when its settings change,
 * and frees it when no feature needs it any more.
 */
export class CriticService implements vscode.Disposable {
  private loading: Promise<Critic> | undefined;
  private loadedFor: string | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the critic was replaced or released: scores from the old one are stale. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly loader: CriticLoader, private readonly log: vscode.LogOutputChannel) {}

  /** The configured critic; throws NoCriticError when none is configured. */
  get(signal?: AbortSignal): Promise<Critic> {
    clearTimeout(this.idleTimer);
    const settings = readSettings().critic;
    if (settings.backend === 'local' && !settings.bundlePath) return Promise.reject(new NoCriticError());
    const key = JSON.stringify(settings);
    if (!this.loading || this.loadedFor !== key) {
      void this.release(false);
      this.loadedFor = key;
      const where = settings.backend === 'local' ? settings.bundlePath : settings.url;
      this.loading = timed(this.log, `load critic ${where}`, () => this.loader(settings, signal));
      this.loading.then(
        (critic) => {
          const verified = critic.info.verified?.map((file) => `${file.path} ${file.how === 'cached' ? 'verified earlier (same size and mtime)' : 'sha256 verified'}`);
          this.log.info(`critic ready: ${critic.info.name} (${critic.info.baseModel}, ${critic.info.provider})${verified?.length ? `; ${verified.join('; ')}` : ''}`);
          for (const notice of critic.info.notices ?? []) this.log.warn(notice);
        },
        () => {
          // A failed load is not cached: the next use tries again (e.g. after fixing the path).
          if (this.loadedFor === key) this.loading = undefined;
        },
      );
    }
    return this.loading;
  }

  /** The configured critic, or undefined when none is configured (rankings then fall back to likelihood). */
  getIfConfigured(signal?: AbortSignal): Promise<Critic | undefined> {
    return this.get(signal).catch((error: unknown) => {
      if (error instanceof NoCriticError) return undefined;
      throw error;
    });
  }

  /** Whether a critic is loaded or loading. */
  get active(): boolean {
    return this.loading !== undefined;
  }

  /** A one-off job finished and nothing else holds the critic: free it after a quiet period. */
  idle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.release(), IDLE_RELEASE_MS);
  }

  /** Frees the critic's sessions and memory; the next get() loads it again. */
  async release(notify = true): Promise<void> {
    clearTimeout(this.idleTimer);
    const loading = this.loading;
    this.loading = undefined;
    this.loadedFor = undefined;
    if (!loading) return;
    const critic = await loading.catch(() => undefined);
    if (critic) {
      await critic.dispose();
      this.log.info('critic released');
    }
    if (notify) this.changed.fire();
  }

  /** Settings changed: drop a critic that no longer matches them. */
  onSettingsChanged(settings: PassLensSettings): void {
    if (this.loadedFor !== undefined && this.loadedFor !== JSON.stringify(settings.critic)) {
      void this.release();
    }
  }

  dispose(): void {
    void this.release(false);
    this.changed.dispose();
  }
}
