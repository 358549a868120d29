/**
 * The critic bundle's manifest (`passlens-critic.json`, written by
 * `python -m passlens_training.export`) and the checks made before anything is loaded.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseCalibration, type Calibration } from '../contracts/calibration';
import { validateTemplates } from '../contracts/prompt';
import type { PromptTemplates } from '../problem/types';
import { CriticError } from './errors';

export const MANIFEST_NAME = 'passlens-critic.json';
export const FORMAT_VERSION = 1;
export type CriticDtype = 'fp32' | 'fp16' | 'int8' | 'int4';

/** One model variant in the manifest: the graph file and, for large models, its external-data file. */
export interface ModelFileEntry {
  path: string;
  bytes: number;
  sha256: string;
  external_data?: string;
  /** Recorded by exporters since the runtime checks it; older bundles lack it. */
  external_data_sha256?: string;
}

export interface CriticManifest {
  format_version: number;
  base_model: string;
  architecture: {
    model_type: string;
    num_layers: number;
    num_attention_heads: number;
    num_kv_heads: number;
    head_dim: number;
    hidden_size: number;
    vocab_size: number;
    max_positions: number;
  };
  onnx: { inputs: string[]; outputs: string[]; past_key_values: boolean; kv_dtype: 'float32'; opset: number };
  /** The variant loaded when the caller does not ask for one. */
  dtype: CriticDtype;
  files: Partial<Record<CriticDtype, ModelFileEntry>>;
  tokenizer: { files: string[]; size: number; eos_token_id: number | null; pad_token_id: number | null; tokenizer_json_sha256: string };
  prompt: PromptTemplates & { chat_template: string; add_generation_prompt: boolean };
  /** PyTorch's values for a short text, recorded at export: a graph that disagrees is not this model. */
  sample: { text: string; input_ids: number[]; values: number[] };
  training: Record<string, unknown> | null;
  /** Platt scaling fitted on a validation split; the runtimes apply it to every value (absent in older bundles). */
  calibration?: (Calibration & { fitted_on?: Record<string, unknown> }) | null;
}

function fail(code: 'bad_manifest' | 'file_missing', path: string, what: string): never {
  throw new CriticError(code, `${path}: ${what}. Re-export the bundle with \`python -m passlens_training.export\`.`);
}

/** Reads and checks the manifest of the bundle at `bundlePath`; every failure says what to do. */
export function readManifest(bundlePath: string): CriticManifest {
  if (!bundlePath) {
    throw new CriticError('bundle_missing', 'No critic bundle is configured: set passlens.critic.bundlePath to a folder exported by `python -m passlens_training.export`.');
  }
  if (!existsSync(bundlePath) || !statSync(bundlePath).isDirectory()) {
    throw new CriticError('bundle_missing', `Critic bundle folder not found: ${bundlePath}. Check passlens.critic.bundlePath.`);
  }
  const path = join(bundlePath, MANIFEST_NAME);
  if (!existsSync(path)) {
    throw new CriticError('not_a_bundle', `${bundlePath} is not a critic bundle: it has no ${MANIFEST_NAME}. Export one with \`python -m passlens_training.export --checkpoint DIR --out ${bundlePath}\`.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail('bad_manifest', path, `not valid JSON (${(error as Error).message})`);
  }
  const m = raw as Partial<CriticManifest> | null;
  if (!m || typeof m !== 'object') fail('bad_manifest', path, 'not a JSON object');
  if (m.format_version !== FORMAT_VERSION) {
    throw new CriticError(
      'unknown_format_version',
      `${path} has format_version ${JSON.stringify(m.format_version)}, but this PassLens reads format_version ${FORMAT_VERSION}. ` +
        'Update PassLens, or re-export the bundle with the matching passlens_training.',
    );
  }
  const arch = m.architecture;
  const numbers = ['num_layers', 'num_kv_heads', 'head_dim', 'vocab_size', 'max_positions'] as const;
  if (!arch || numbers.some((k) => !Number.isInteger(arch[k]) || arch[k] <= 0)) fail('bad_manifest', path, `"architecture" needs positive integers ${numbers.join(', ')}`);
  if (!m.onnx || !Array.isArray(m.onnx.inputs) || !Array.isArray(m.onnx.outputs) || typeof m.onnx.past_key_values !== 'boolean') {
    fail('bad_manifest', path, '"onnx" needs inputs, outputs and past_key_values');
  }
  if (!m.files || !m.dtype || !m.files[m.dtype]) fail('bad_manifest', path, `"files" has no entry for the default dtype ${JSON.stringify(m.dtype)}`);
  if (!m.tokenizer || !Array.isArray(m.tokenizer.files) || !Number.isInteger(m.tokenizer.size)) fail('bad_manifest', path, '"tokenizer" needs files and size');
  if (!m.prompt || typeof m.prompt.chat_template !== 'string') fail('bad_manifest', path, '"prompt" needs the chat_template the critic was trained with');
  validateTemplates(m.prompt, path);
  if (!m.sample || !Array.isArray(m.sample.input_ids) || !Array.isArray(m.sample.values)) fail('bad_manifest', path, '"sample" needs input_ids and values');
  try {
    parseCalibration(m.calibration);
  } catch (error) {
    fail('bad_manifest', path, `"calibration": ${(error as Error).message}`);
  }
  for (const name of ['tokenizer.json', 'tokenizer_config.json', ...m.tokenizer.files]) {
    if (!existsSync(join(bundlePath, name))) fail('file_missing', join(bundlePath, name), 'tokenizer file missing from the bundle');
  }
  return m as CriticManifest;
}

/** The model file of `dtype` (the manifest's default when absent), checked to exist. */
export function modelFile(bundlePath: string, manifest: CriticManifest, dtype?: CriticDtype): { dtype: CriticDtype; path: string; entry: ModelFileEntry } {
  const chosen = dtype ?? manifest.dtype;
  const entry = manifest.files[chosen];
  if (!entry) {
    const available = Object.keys(manifest.files).join(', ');
    throw new CriticError('file_missing', `The critic bundle ${bundlePath} has no ${chosen} model (it has: ${available}). Pick one of those or export with --dtype ${chosen}.`);
  }
  const path = join(bundlePath, entry.path);
  if (!existsSync(path)) {
    throw new CriticError('file_missing', `${path} is listed in the manifest but missing. Copy the whole bundle folder again or re-export it.`);
  }
  if (entry.external_data && !existsSync(join(bundlePath, entry.external_data))) {
    throw new CriticError('file_missing', `${join(bundlePath, entry.external_data)} (the weights of ${entry.path}) is missing. Copy the whole bundle folder again.`);
  }
  return { dtype: chosen, path, entry };
}

/**
 * The calibration in a critic bundle's manifest or in a calibration file
 * (passlens-calibration.json, beside a served checkpoint): for a critic served by vLLM, whose
 * server cannot tell it. `path` is that file or a bundle folder.
 */
export function readCalibration(path: string): Calibration | null {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, MANIFEST_NAME) : path;
  if (!existsSync(file)) {
    throw new CriticError('file_missing', `Calibration file not found: ${file}. Point passlens.critic.calibrationFile at the served checkpoint's passlens-calibration.json or at a critic bundle.`);
  }
  let raw: { calibration?: unknown; method?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as typeof raw;
  } catch (error) {
    throw new CriticError('bad_manifest', `${file}: not valid JSON (${(error as Error).message}).`);
  }
  try {
    return parseCalibration(raw && typeof raw === 'object' && 'method' in raw ? raw : raw?.calibration);
  } catch (error) {
    throw new CriticError('bad_manifest', `${file}: ${(error as Error).message}. Write it with \`python -m passlens_training.evaluate.calibrate\`.`);
  }
}
