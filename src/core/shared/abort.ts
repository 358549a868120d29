/** The one cancellation error of src/core: a cancelled generation, scoring or sandbox run rejects with it. */
export class AbortError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'AbortError';
  }
}

/** Throws an AbortError when `signal` is aborted (for loops between awaits). */
export function throwIfAborted(signal: AbortSignal | undefined, message?: string): void {
  if (signal?.aborted) throw new AbortError(message);
}

/** Ours, or a platform one (fetch and timers reject with a DOMException named AbortError). */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
