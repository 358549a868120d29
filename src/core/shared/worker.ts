import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Starts the worker thread `name` that sits beside the caller: dist/<name>.js when bundled;
 * from source (tests, tsx) the TypeScript entry is loaded through tsx's CommonJS hook, since
 * Node 20 workers do not apply the parent's --import loaders to their entry file.
 */
export function startWorker(dir: string, name: string): Worker {
  const bundled = join(dir, `${name}.js`);
  if (existsSync(bundled)) return new Worker(bundled);
  const source = join(dir, `${name}.ts`);
  return new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(source)});`, { eval: true });
}
