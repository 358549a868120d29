import * as vscode from 'vscode';

/** Runs `work`, logging what ran and how long it took (or how it failed) on the PassLens channel. */
export async function timed<T>(log: vscode.LogOutputChannel, what: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await work();
    log.info(`${what}: ${(performance.now() - started).toFixed(0)} ms`);
    return result;
  } catch (error) {
    const cancelled = error instanceof Error && error.name === 'AbortError';
    log[cancelled ? 'info' : 'error'](`${what}: ${cancelled ? 'cancelled' : errorMessage(error)} after ${(performance.now() - started).toFixed(0)} ms`);
    throw error;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isCancellation(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error instanceof vscode.CancellationError);
}

/** An AbortSignal that aborts when the VS Code cancellation token fires. */
export function signalOf(token: vscode.CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

/**
 * A cancellable progress notification around `work`; cancellation, errors and timings are
 * logged, and errors are shown with the actions `onError` offers.
 */
export async function withProgress<T>(
  log: vscode.LogOutputChannel,
  title: string,
  work: (progress: vscode.Progress<{ message?: string; increment?: number }>, signal: AbortSignal) => Promise<T>,
): Promise<T | undefined> {
  try {
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable: true },
      (progress, token) => timed(log, title, () => work(progress, signalOf(token))),
    );
  } catch (error) {
    if (isCancellation(error)) return undefined;
    throw error;
  }
}
