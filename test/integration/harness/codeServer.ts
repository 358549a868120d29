/**
 * Starts code-server (VS Code server + web workbench) for the editor tests and stops it.
 * It runs on 127.0.0.1 on a free port in its own process group; stop() kills the whole
 * group (server, extension host, anything they spawned). The group id is also written to
 * $PASSLENS_EDITOR_PGID_FILE so the shell runner can kill it if this process is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface CodeServer {
  url: string;
  port: number;
  /** Kills the server's process group. */
  stop(): void;
}

export interface CodeServerOptions {
  /** Empty folder for user data, extensions and the server log. */
  stateDir: string;
  /** Accept extension test payloads in the URL (and suppress notification toasts). */
  smokeTestDriver: boolean;
  /** Extra environment for the server and its extension host. */
  env?: Record<string, string>;
  /**
   * Workspace trust on (folders open untrusted, no start-up question, until trusted through
   * the Workspace Trust editor); off by default, so the other tests run trusted.
   */
  workspaceTrust?: boolean;
  /** User settings (user-data/User/settings.json), below any workspace's. */
  userSettings?: Record<string, unknown>;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the editor tests through test/integration/run.sh or test/ui/run.sh`);
  return value;
}

/** The node (24) and entry script that run code-server; set by scripts/editor/env.sh. */
export function codeServerCommand(): { node: string; entry: string } {
  return { node: join(required('PASSLENS_NODE24_HOME'), 'bin', 'node'), entry: required('PASSLENS_CODE_SERVER') };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const running = new Set<ChildProcess>();
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || !running.delete(child)) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}
// Whatever way this process ends, no server outlives it.
process.on('exit', () => running.forEach(killGroup));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    running.forEach(killGroup);
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

export function baseArgs(stateDir: string): string[] {
  return ['--user-data-dir', join(stateDir, 'user-data'), '--extensions-dir', join(stateDir, 'extensions')];
}

/** Runs code-server's CLI to completion (e.g. --install-extension FILE). */
export async function codeServerCli(stateDir: string, args: string[]): Promise<string> {
  const { node, entry } = codeServerCommand();
  const child = spawn(node, [entry, ...baseArgs(stateDir), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  killGroup(child);
  if (code !== 0) throw new Error(`code-server ${args.join(' ')} failed (exit ${code}):\n${output}`);
  return output;
}

export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const { node, entry } = codeServerCommand();
  mkdirSync(options.stateDir, { recursive: true });
  const trust = options.workspaceTrust ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' } : {};
  const userSettings = { ...options.userSettings, ...trust };
  if (Object.keys(userSettings).length) {
    mkdirSync(join(options.stateDir, 'user-data', 'User'), { recursive: true });
    writeFileSync(join(options.stateDir, 'user-data', 'User', 'settings.json'), JSON.stringify(userSettings, null, 2));
  }
  const port = await freePort();
  const args = [
    entry,
    ...baseArgs(options.stateDir),
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--bind-addr', `127.0.0.1:${port}`,
    ...(options.smokeTestDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
  ];
  const logPath = join(options.stateDir, 'code-server.log');
  const log = createWriteStream(logPath);
  const child = spawn(node, args, {
    detached: true, // its own process group, killed as a whole
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  running.add(child);
  if (process.env.PASSLENS_EDITOR_PGID_FILE && child.pid) appendFileSync(process.env.PASSLENS_EDITOR_PGID_FILE, `${child.pid}\n`);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);

  const url = `http://127.0.0.1:${port}`;
  // Ready when the server answers HTTP; it exits early on bad flags or a missing build.
  const deadline = Date.now() + 60_000;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  for (;;) {
    if (exited !== undefined) throw new Error(`code-server exited with ${exited} before it was ready; see ${logPath}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      killGroup(child);
      throw new Error(`code-server did not answer on ${url} within 60 s; see ${logPath}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { url, port, stop: () => killGroup(child) };
}
