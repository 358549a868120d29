/**
 * Real models for the extension's tests, built by the Python package and cached:
 * - tiny random ones under .cache/fixtures/ (a critic bundle and a transformers.js
 *   generator folder) for unit tests that need a model, not a good one;
 * - the micro-ci generator and critic (issue 9, .cache/micro/ci/) for the editor tests,
 *   whose candidates are real Python and whose p(pass) means something.
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

export interface MicroModels {
  /** HF + transformers.js layout (onnx/model.onnx), for passlens.generator.model. */
  generator: string;
  /** Critic bundle folder, for passlens.critic.bundlePath. */
  criticBundle: string;
}

export const MICRO_CI_CONFIG = join('training', 'passlens_training', 'configs', 'micro-ci.yaml');
let micro: MicroModels | undefined;

/**
 * The micro-ci generator and critic bundle (micro-ci.yaml's work_dir, .cache/micro/ci).
 * Runs the micro build up to the export stage once per process: it is cached by input
 * hash (seconds when up to date, ~5 min cold) and waits on its lock while another build
 * of the same folder runs, so the editor runners refresh it before starting the editor
 * and this call only checks. PASSLENS_MICRO_DIR names another micro work folder, already
 * built (e.g. .cache/micro/full), used as it is.
 */
export function microModels(): MicroModels {
  if (!micro) {
    let work = process.env.PASSLENS_MICRO_DIR;
    if (!work) {
      execFileSync(python, ['-m', 'passlens_training.micro.build', '--config', MICRO_CI_CONFIG, '--until', 'export', '--no-progress'], {
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      work = join(repoRoot, '.cache', 'micro', 'ci');
    }
    micro = { generator: join(work, 'generator'), criticBundle: join(work, 'critic-bundle') };
    for (const path of [join(micro.generator, 'onnx', 'model.onnx'), join(micro.criticBundle, 'passlens-critic.json')]) {
      if (!existsSync(path)) throw new Error(`${path} is missing: build the micro models (bash scripts/build-micro.sh --ci --until export)`);
    }
  }
  return micro;
}

/**
 * Writes the demo workspace as scripts/demo.sh does (held-out micro problems as
 * <name>.md, an empty <name>.py beside each, README.md, .vscode/settings.json pointing
 * at the micro models) into `folder`, and returns the files written.
 */
export function writeDemoWorkspace(folder: string, models: MicroModels = microModels()): string[] {
  const out = execFileSync(python, ['-m', 'passlens_training.micro.demo', '--out', folder, '--generator', models.generator, '--critic', models.criticBundle], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.split('\n').filter(Boolean);
}
