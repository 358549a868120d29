/**
 * Client of python-sandbox/judge.py: one long-lived judge process, requests streamed as
 * JSON lines, responses matched by order (the judge answers in request order). A judge
 * that crashes or stops answering is killed and restarted; the request it was on is
 * answered with an error and the requests behind it are sent again.
 *
 * Isolation: the judge is asked for a strong mechanism (`--isolation auto`). A judge that
 * cannot isolate exits at start with a message: every request then rejects with a
 * SandboxUnavailableError carrying it, and nothing runs. Only with `allowWeakIsolation` is
 * the judge restarted in weak mode; a weak verdict that arrives without the opt-in (a judge
 * that falls back by itself) is refused the same way.
 */
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { AbortError } from '../shared/abort';
import { UntrustedWorkspaceError } from '../shared/trust';
import { AUTO_ISOLATION, SandboxUnavailableError, WEAK_ISOLATION, isWeakIsolation, isWeakMode } from './isolation';
import type { JudgeRequest, JudgeResponse } from './types';

export interface SandboxClientOptions {
  /** Python >= 3.9 that runs the judge. */
  pythonPath: string;
  /** python-sandbox/judge.py (see defaultJudgePath). */
  judgePath: string;
  /** Judge worker processes (--workers); the judge's default is one per CPU. */
  workers?: number;
  /** Running model-written code needs a trusted workspace; the editor layer supplies this. */
  trusted: boolean;
  /** Applied to requests that carry no timeout_s / memory_mb. */
  defaultTimeoutS?: number;
  defaultMemoryMb?: number;
  /** Comparison for requests that name none (--compare; the judge's default is strict). */
  compare?: 'apps' | 'strict';
  /** The isolation mode to ask for (default auto: a strong mechanism or a refusal). */
  isolation?: string;
  /** The user's explicit opt-in to weak, escapable isolation where nothing strong exists. */
  allowWeakIsolation?: boolean;
  /** Extra judge flags. */
  extraArgs?: string[];
  /** Time beyond a request's worst case (tests x timeout) before the judge counts as hung. */
  hangGraceMs?: number;
}

const DEFAULT_TIMEOUT_S = 4;
const DEFAULT_HANG_GRACE_MS = 15_000;
/** Start-up time allowed before the first answer (workers import and warm up). */
const STARTUP_ALLOWANCE_MS = 30_000;
const STDERR_KEPT = 4000;

interface Pending {
  request: JudgeRequest;
  line: string;
  resolve: (response: JudgeResponse) => void;
  reject: (error: unknown) => void;
  /** Aborted by the caller: the judge's answer is still read (to keep the order) and dropped. */
  cancelled: boolean;
}

interface JudgeProcess {
  pid: number | undefined;
  stdin: Writable;
  kill: (signal?: NodeJS.Signals) => boolean;
  answered: boolean;
  exited: boolean;
}

/**
 * Finds python-sandbox/judge.py next to the bundled extension (dist/ -> ../python-sandbox)
 * or in the source tree (src/core/sandbox -> ../../../python-sandbox).
 */
export function defaultJudgePath(from: string = __dirname): string {
  const candidates = [
    resolve(from, '..', 'python-sandbox', 'judge.py'),
    resolve(from, '..', '..', '..', 'python-sandbox', 'judge.py'),
  ];
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`python-sandbox/judge.py not found (looked in ${candidates.map(dirname).join(', ')})`);
  return found;
}

export class SandboxClient {
  private proc: JudgeProcess | undefined;
  private readonly queue: Pending[] = [];
  private watchdog: NodeJS.Timeout | undefined;
  private stderrTail = '';
  private disposed = false;
  /** Times the judge was (re)started; lets callers and tests see restarts. */
  starts = 0;
  /** The mode the judge is started with: the one asked for, or weak after an allowed fallback. */
  private mode: string;
  /** Set when the judge cannot isolate (or start) here: every request rejects with it. */
  unavailable: SandboxUnavailableError | undefined;
  /** Why the judge runs in weak mode although a strong one was asked for (the judge's message). */
  weakFallbackReason: string | undefined;

  constructor(private readonly options: SandboxClientOptions) {
    this.mode = options.isolation ?? AUTO_ISOLATION;
  }

  /** Process id of the running judge, if one is running. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Judges one request. Resolves with the judge's response (a verdict or `{id, error}`). */
  judge(request: JudgeRequest, signal?: AbortSignal): Promise<JudgeResponse> {
    if (!this.options.trusted) return Promise.reject(new UntrustedWorkspaceError());
    if (this.disposed) return Promise.reject(new Error('the sandbox client is disposed'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (isWeakMode(this.mode) && !this.options.allowWeakIsolation) {
      this.unavailable ??= new SandboxUnavailableError(`Weak isolation (${this.mode}) was asked for, but it is not allowed.`);
    }
    if (this.unavailable) return Promise.reject(this.unavailable);
    const memory = request.memory_mb ?? this.options.defaultMemoryMb;
    const filled: JudgeRequest = {
      ...request,
      timeout_s: request.timeout_s ?? this.options.defaultTimeoutS ?? DEFAULT_TIMEOUT_S,
      ...(memory !== undefined ? { memory_mb: memory } : {}),
    };
    return new Promise<JudgeResponse>((resolvePromise, rejectPromise) => {
      const entry: Pending = {
        request: filled,
        line: JSON.stringify(filled) + '\n',
        resolve: resolvePromise,
        reject: rejectPromise,
        cancelled: false,
      };
      signal?.addEventListener(
        'abort',
        () => {
          if (entry.cancelled || !this.queue.includes(entry)) return;
          entry.cancelled = true;
          rejectPromise(abortError(signal));
        },
        { once: true },
      );
      this.queue.push(entry);
      this.send(entry).catch((error: unknown) => this.fail(entry, error));
    });
  }

  /** Judges several requests (streamed together, so the judge's workers run them in parallel). */
  judgeMany(requests: JudgeRequest[], signal?: AbortSignal): Promise<JudgeResponse[]> {
    return Promise.all(requests.map((request) => this.judge(request, signal)));
  }

  /** Stops the judge; pending requests are rejected. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.clearWatchdog();
    const pending = this.queue.splice(0);
    for (const entry of pending) if (!entry.cancelled) entry.reject(new Error('the sandbox client was disposed'));
    const proc = this.proc;
    this.proc = undefined;
    if (proc && !proc.exited) {
      proc.stdin.end();
      // Nobody waits for the running requests any more; SIGTERM lets the judge clean up.
      if (pending.length) proc.kill('SIGTERM');
      await new Promise<void>((done) => {
        const timer = setTimeout(() => {
          proc.kill('SIGKILL');
          done();
        }, 3000);
        this.exitWaiters.push(() => {
          clearTimeout(timer);
          done();
        });
      });
    }
  }

  private exitWaiters: Array<() => void> = [];
  private starting: Promise<JudgeProcess> | undefined;

  private async send(entry: Pending): Promise<void> {
    // One start at a time; writes then happen in the order requests were queued.
    const proc = this.proc ?? (await (this.starting ??= this.start().finally(() => (this.starting = undefined))));
    if (!this.queue.includes(entry) || proc !== this.proc) return;
    proc.stdin.write(entry.line);
    this.armWatchdog();
  }

  private async start(): Promise<JudgeProcess> {
    const { execa } = await import('execa');
    const args = [this.options.judgePath];
    if (this.options.workers) args.push('--workers', String(this.options.workers));
    if (this.options.compare) args.push('--compare', this.options.compare);
    args.push('--isolation', this.mode, ...(this.options.extraArgs ?? []));
    const child = execa(this.options.pythonPath, args, {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cleanup: true,
      windowsHide: true,
    });
    const proc: JudgeProcess = {
      pid: child.pid,
      stdin: child.stdin,
      kill: (sig) => child.kill(sig ?? 'SIGKILL'),
      answered: false,
      exited: false,
    };
    this.proc = proc;
    this.starts += 1;
    this.stderrTail = '';
    child.stdin.on('error', () => undefined); // a dead judge is handled on exit
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_KEPT);
    });
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(proc, line));
    void child.then((result) => this.onExit(proc, result.exitCode, result.signal));
    return proc;
  }

  private onLine(proc: JudgeProcess, line: string): void {
    if (proc !== this.proc || !line.trim()) return;
    proc.answered = true;
    const entry = this.queue.shift();
    if (!entry) return;
    let response: JudgeResponse;
    try {
      response = JSON.parse(line) as JudgeResponse;
    } catch {
      response = { id: entry.request.id, error: `the judge wrote an unreadable line: ${line.slice(0, 200)}` };
    }
    if (isWeakIsolation(response) && !this.options.allowWeakIsolation) {
      // A judge that fell back to the guard by itself: nothing it ran counts, and it stops.
      const isolation = 'isolation' in response ? response.isolation : WEAK_ISOLATION;
      this.refuse(proc, `The sandbox judge could only isolate weakly here (${isolation}). ${lastLine(this.stderrTail) ?? ''}`.trim(), entry);
      return;
    }
    if (!entry.cancelled) entry.resolve(response);
    this.clearWatchdog();
    if (this.queue.length) this.armWatchdog();
  }

  private onExit(proc: JudgeProcess, code: number | undefined, signal: string | undefined): void {
    proc.exited = true;
    for (const waiter of this.exitWaiters.splice(0)) waiter();
    if (proc !== this.proc) return;
    this.proc = undefined;
    this.clearWatchdog();
    if (!proc.answered && !signal && code !== 0) {
      // It ended before it could answer anything: it cannot start (or cannot isolate) here.
      const message = lastLine(this.stderrTail) ?? `the sandbox judge (${this.options.pythonPath} ${this.options.judgePath}) exited with status ${code} before it started`;
      if (this.options.allowWeakIsolation && this.mode === AUTO_ISOLATION) {
        this.mode = WEAK_ISOLATION;
        this.weakFallbackReason = message;
        for (const entry of [...this.queue]) this.send(entry).catch((error: unknown) => this.fail(entry, error));
        return;
      }
      this.refuse(undefined, message);
      return;
    }
    const how = signal ? `was killed (${signal})` : `exited with status ${code}`;
    this.recover(`the sandbox judge ${how}${this.stderrTail ? `: ${this.stderrTail.trim().slice(-500)}` : ''}`);
  }

  /** Answers the request the judge was on with an error and re-sends the ones behind it. */
  private recover(reason: string): void {
    const head = this.queue.shift();
    if (head && !head.cancelled) head.resolve({ id: head.request.id, error: reason });
    if (this.disposed) return;
    for (const entry of [...this.queue]) {
      this.send(entry).catch((error: unknown) => this.fail(entry, error));
    }
  }

  /** The judge cannot isolate acceptably: stop it; this and every queued request reject with the reason. */
  private refuse(proc: JudgeProcess | undefined, message: string, head?: Pending): void {
    this.unavailable = new SandboxUnavailableError(message);
    this.clearWatchdog();
    if (proc && proc === this.proc) {
      this.proc = undefined;
      proc.kill('SIGKILL');
    }
    const pending = [...(head ? [head] : []), ...this.queue.splice(0)];
    for (const entry of pending) if (!entry.cancelled) entry.reject(this.unavailable);
  }

  private fail(entry: Pending, error: unknown): void {
    const index = this.queue.indexOf(entry);
    if (index >= 0) this.queue.splice(index, 1);
    if (!entry.cancelled) {
      const message = error instanceof Error ? error.message : String(error);
      entry.reject(new Error(`could not start the sandbox judge (${this.options.pythonPath} ${this.options.judgePath}): ${message}`));
    }
  }

  /** The oldest request must be answered within its worst case, else the judge is hung. */
  private armWatchdog(): void {
    if (this.watchdog || !this.queue.length || !this.proc) return;
    const head = this.queue[0].request;
    const tests = Math.max(head.tests.inputs.length, 1);
    const perTestMs = ((head.timeout_s ?? DEFAULT_TIMEOUT_S) + 1) * 1000;
    const startup = this.proc.answered ? 0 : STARTUP_ALLOWANCE_MS;
    const limit = tests * perTestMs + (this.options.hangGraceMs ?? DEFAULT_HANG_GRACE_MS) + startup;
    const proc = this.proc;
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      if (proc !== this.proc) return;
      this.proc = undefined;
      proc.kill('SIGKILL');
      this.recover(`the sandbox judge did not answer within ${Math.round(limit / 1000)} s and was restarted`);
    }, limit);
    this.watchdog.unref?.();
  }

  private clearWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }
}

/** The last non-empty line of the judge's stderr: its one-line reason for exiting. */
function lastLine(text: string): string | undefined {
  return text.trim().split('\n').pop()?.trim() || undefined;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new AbortError('the sandbox request was cancelled');
}
