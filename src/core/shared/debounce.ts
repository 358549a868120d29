/**
 * Debounced, latest-wins scheduling of async work: a new request cancels the pending timer
 * and aborts the run in flight, so only the newest input is ever finished.
 */
export class LatestRunScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: AbortController | undefined;
  private disposed = false;

  constructor(private delayMs: number) {}

  setDelay(delayMs: number): void {
    this.delayMs = delayMs;
  }

  /**
   * Runs `work` after `delayMs` of quiet. Resolves with its result, or with undefined when
   * a later `schedule`/`cancel`/`dispose` superseded it (never rejects for that reason).
   */
  schedule<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    this.cancel();
    if (this.disposed) return Promise.resolve(undefined);
    const controller = new AbortController();
    this.inFlight = controller;
    return new Promise<T | undefined>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(this.timer);
        resolve(undefined);
      };
      controller.signal.addEventListener('abort', onAbort, { once: true });
      this.timer = setTimeout(() => {
        this.timer = undefined;
        // Settle only after the bookkeeping, so `busy` is already false for the awaiting caller.
        const settle = () => {
          controller.signal.removeEventListener('abort', onAbort);
          if (this.inFlight === controller) this.inFlight = undefined;
        };
        work(controller.signal).then(
          (result) => {
            settle();
            resolve(controller.signal.aborted ? undefined : result);
          },
          (error: unknown) => {
            settle();
            if (controller.signal.aborted) resolve(undefined);
            else reject(error);
          },
        );
      }, this.delayMs);
    });
  }

  /** Whether a run is waiting or working. */
  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  /** Drops the pending run and aborts the one in flight. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const controller = this.inFlight;
    this.inFlight = undefined;
    controller?.abort();
  }

  dispose(): void {
    this.disposed = true;
    this.cancel();
  }
}
