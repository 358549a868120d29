/**
 * Tiny real models for the extension's tests, built once by the Python package and cached
 * under .cache/fixtures/ (rebuilt when missing): a critic bundle and a transformers.js
 * generator folder.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest folder above this file (or its bundled copy) with PassLens' package.json. */
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'passlens') return dir;
    if (dirname(dir) === dir) throw new Error(`no PassLens package.json above ${from}`);
  }
}

export const repoRoot = findRepoRoot(__dirname);
const python = join(repoRoot, '.venv', 'bin', 'python');
const cache = join(repoRoot, '.cache', 'fixtures');

/** Builds into a temporary folder and renames, so an interrupted build never leaves half a fixture. */
function build(name: string, args: string[], marker: string): string {
  const out = join(cache, name);
  if (existsSync(join(out, marker))) return out;
  const partial = `${out}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(cache, { recursive: true });
  execFileSync(python, [...args, partial], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(out, { recursive: true, force: true });
  renameSync(partial, out);
  return out;
}

let criticBundle: string | undefined;

/**
 * The tiny critic bundle. passlens_training.fixtures keeps it up to date itself (it
 * rebuilds only when its inputs changed), so it is asked once per test process.
 */
export function tinyCriticBundle(): string {
  if (!criticBundle) {
    const out = join(cache, 'critic-bundle');
    mkdirSync(cache, { recursive: true });
    execFileSync(python, ['-m', 'passlens_training.fixtures', 'critic-bundle', out], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    criticBundle = out;
  }
  return criticBundle;
}

const GENERATOR_SCRIPT = `
import sys, json, shutil
from pathlib import Path
from transformers import AutoModelForCausalLM
from passlens_training.tiny import save_tiny_causal_lm
from passlens_training.export import export_decoder_onnx
out = Path(sys.argv[1])
hf = out / "hf"
save_tiny_causal_lm(hf, seed=0)
model = AutoModelForCausalLM.from_pretrained(hf)
(out / "onnx").mkdir(parents=True, exist_ok=True)
export_decoder_onnx(model, out / "onnx" / "model.onnx", head="lm")
for f in hf.iterdir():
    if f.suffix in (".json", ".jinja", ".txt"):
        shutil.copy(f, out / f.name)
shutil.rmtree(hf)
`;

/** A random tiny Phi-3 causal LM in transformers.js layout (config, tokenizer, onnx/model.onnx). */
export function tinyGenerator(): string {
  return build('tiny-generator', ['-c', GENERATOR_SCRIPT], join('onnx', 'model.onnx'));
}
