import * as vscode from 'vscode';
import { LocalGenerator } from '../../core/generation/local';
import { OpenAIGenerator } from '../../core/generation/openai';
import type { Generator } from '../../core/generation/types';
import { readSettings, type PassLensSettings } from '../settings';
import type { OriginAccess } from '../trust/originAccess';

/** Idle time after which a local generator's worker (and its model memory) is released. */
const IDLE_RELEASE_MS = 10 * 60_000;

/**
 * Owns the generator: builds it from settings on demand, loads a local model under a
 * cancellable progress notification (downloads included), and releases it when idle or
 * when its settings change.
 */
export class GeneratorService implements vscode.Disposable {
  private generator: Generator | undefined;
  private builtFor: string | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly access: OriginAccess,
    private readonly cacheDir: string,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The configured generator, loaded and ready; `signal` cancels a download or load. */
  async get(signal?: AbortSignal): Promise<Generator> {
    clearTimeout(this.idleTimer);
    const settings = readSettings().generator;
    const key = JSON.stringify(settings);
    if (!this.generator || this.builtFor !== key) {
      await this.release();
      this.generator = await this.build(settings);
      this.builtFor = key;
    }
    const generator = this.generator;
    if (generator instanceof LocalGenerator && !generator.isLoaded) await this.loadWithProgress(generator, signal);
    return generator;
  }

  /** Call when a generation ends: a local model is released after a quiet period. */
  idle(): void {
    clearTimeout(this.idleTimer);
    if (this.generator instanceof LocalGenerator) this.idleTimer = setTimeout(() => void this.release(), IDLE_RELEASE_MS);
  }

  async release(): Promise<void> {
    clearTimeout(this.idleTimer);
    const generator = this.generator;
    this.generator = undefined;
    this.builtFor = undefined;
    if (generator) {
      await generator.dispose();
      this.log.info(`generator released: ${generator.name}`);
    }
  }

  onSettingsChanged(settings: PassLensSettings): void {
    if (this.builtFor !== undefined && this.builtFor !== JSON.stringify(settings.generator)) void this.release();
  }

  /** Builds (without loading) a generator for `settings`: also used to validate a choice. */
  async build(settings: PassLensSettings['generator']): Promise<Generator> {
    if (settings.backend === 'openai') {
      const policy = await this.access.policyFor(settings.serverUrl, 'the generator server');
      return new OpenAIGenerator({ baseUrl: settings.serverUrl, model: settings.model, api: settings.api, ...policy });
    }
    return new LocalGenerator({
      model: settings.model,
      dtype: settings.dtype,
      offlineOnly: settings.offlineOnly,
      cacheDir: this.cacheDir,
    });
  }

  /** Loads a local model under a cancellable notification that shows each file's progress. */
  async loadWithProgress(generator: LocalGenerator, signal?: AbortSignal): Promise<void> {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `PassLens: loading ${generator.name}`, cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        signal?.addEventListener('abort', () => controller.abort(), { once: true });
        await generator.load(controller.signal, (p) =>
          progress.report({ message: `${p.file} ${p.total ? ((100 * p.loaded) / p.total).toFixed(0) : 0}%` }),
        );
      },
    );
  }

  dispose(): void {
    void this.release();
  }
}
