/** Why the critic could not do what was asked; `code` lets callers react, the message tells the user what to do. */
export type CriticErrorCode =
  | 'bundle_missing'
  | 'not_a_bundle'
  | 'bad_manifest'
  | 'unknown_format_version'
  | 'file_missing'
  | 'file_corrupt'
  | 'onnx_invalid'
  | 'onnx_mismatch'
  | 'tokenizer_mismatch'
  | 'tokenizer_unsupported'
  | 'too_long'
  | 'out_of_memory'
  | 'remote_error'
  | 'disposed';

export class CriticError extends Error {
  constructor(
    readonly code: CriticErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CriticError';
  }
}

/** onnxruntime reports allocation failures in several wordings. */
export function isOutOfMemory(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return /bad_alloc|Failed to allocate|out of memory|ENOMEM|Cannot allocate memory/i.test(text);
}
