/**
 * The bundle's model files are checked against the sha256 the manifest records, before
 * onnxruntime reads them. Hashing streams the file (bundles reach GBs) and runs in the
 * critic's worker thread; a verified hash is remembered by path, size and mtime in a small
 * JSON file in `cacheDir`, so later loads of an unchanged file cost one stat.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CriticError } from './errors';

export const HASH_CACHE_NAME = 'verified-sha256.json';

/** How a file was found to match the manifest: hashed now, or a hash verified earlier for the same size and mtime. */
export interface VerifiedFile {
  path: string;
  how: 'hashed' | 'cached';
}

interface CacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

async function readCache(file: string): Promise<Record<string, CacheEntry>> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, CacheEntry>) : {};
  } catch {
    // Missing or damaged: the files are hashed again and the cache rewritten.
    return {};
  }
}

/**
 * Resolves when `path` has the sha256 `expected` (and, when given, `expectedBytes` bytes);
 * rejects with CriticError `file_corrupt` naming the file otherwise. Without `cacheDir`
 * every call hashes.
 */
export async function verifyFile(path: string, expected: string, options: { expectedBytes?: number; cacheDir?: string } = {}): Promise<VerifiedFile> {
  const absolute = resolve(path);
  const info = await stat(absolute);
  const corrupt = (what: string) =>
    new CriticError(
      'file_corrupt',
      `${absolute} does not match the critic bundle's manifest (${what}): the file is damaged or was replaced. ` +
        'Copy the whole bundle folder again, or re-export it with `python -m passlens_training.export`.',
    );
  if (options.expectedBytes !== undefined && info.size !== options.expectedBytes) throw corrupt(`${info.size} bytes, the manifest says ${options.expectedBytes}`);
  const cacheFile = options.cacheDir ? join(options.cacheDir, HASH_CACHE_NAME) : undefined;
  const cache = cacheFile ? await readCache(cacheFile) : {};
  const known = cache[absolute];
  if (known && known.size === info.size && known.mtimeMs === info.mtimeMs && known.sha256 === expected) return { path: absolute, how: 'cached' };
  const actual = await sha256File(absolute);
  if (actual !== expected) throw corrupt(`sha256 ${actual.slice(0, 12)}…, the manifest says ${expected.slice(0, 12)}…`);
  if (cacheFile && options.cacheDir) {
    // Re-read just before writing: another load may have added entries meanwhile.
    const latest = { ...(await readCache(cacheFile)), [absolute]: { size: info.size, mtimeMs: info.mtimeMs, sha256: actual } };
    await mkdir(options.cacheDir, { recursive: true });
    const temporary = `${cacheFile}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, JSON.stringify(latest, null, 1));
    await rename(temporary, cacheFile);
  }
  return { path: absolute, how: 'hashed' };
}
