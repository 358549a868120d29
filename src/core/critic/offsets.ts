/**
 * Exact token → UTF-16 offsets for byte-level BPE tokenizers (Phi-4's family).
 *
 * A byte-level token is a run of UTF-8 bytes, so an emoji or accented letter can be split
 * across tokens. Rule: a character belongs to the token holding its last byte; a token
 * holding only part of a character gets the empty span at that character's start.
 * Concatenating `text.slice(start, end)` over the tokens gives the text back exactly.
 */
import { CriticError } from './errors';

/**
 * GPT-2's byte ↔ printable-character table, which byte-level BPE vocabularies are written
 * in. Hand-written: transformers.js keeps its copy internal.
 */
function byteDecoderTable(): Map<string, number> {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Map<string, number>();
  for (const b of printable) table.set(String.fromCharCode(b), b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) table.set(String.fromCharCode(256 + next++), b);
  }
  return table;
}

const BYTE_DECODER = byteDecoderTable();
const utf8 = new TextEncoder();

/** UTF-8 bytes of one byte-level vocabulary entry (e.g. "Ġreturn" → " return"). */
export function byteLevelTokenBytes(token: string): Uint8Array {
  const bytes = new Uint8Array(token.length);
  let n = 0;
  for (const ch of token) {
    const b = BYTE_DECODER.get(ch);
    if (b === undefined) return utf8.encode(token); // not a byte-level string (special token text)
    bytes[n++] = b;
  }
  return bytes.subarray(0, n);
}

/** Byte lengths of tokens → [start, end) UTF-16 offsets into `text` (see the rule above). */
export function charOffsets(text: string, tokenBytes: readonly Uint8Array[]): Array<[number, number]> {
  const encoded = utf8.encode(text);
  const total = tokenBytes.reduce((sum, b) => sum + b.length, 0);
  let same = total === encoded.length;
  for (let i = 0, p = 0; same && i < tokenBytes.length; i++) {
    const bytes = tokenBytes[i];
    for (let j = 0; j < bytes.length; j++) {
      if (bytes[j] !== encoded[p++]) {
        same = false;
        break;
      }
    }
  }
  if (!same) {
    throw new CriticError(
      'tokenizer_unsupported',
      'The critic tokenizer does not reproduce the scored text byte for byte (it normalises text), so token offsets cannot be exact. PassLens needs a byte-level BPE tokenizer such as Phi-4\'s.',
    );
  }
  // completedAt[k]: UTF-16 offset just after the last character whose bytes all lie in [0, k).
  const completedAt = new Int32Array(encoded.length + 1);
  let bytePos = 0;
  for (let u = 0; u < text.length; ) {
    const cp = text.codePointAt(u)!;
    const units = cp > 0xffff ? 2 : 1;
    const width = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (let k = 1; k < width; k++) completedAt[bytePos + k] = u;
    bytePos += width;
    u += units;
    completedAt[bytePos] = u;
  }
  const offsets: Array<[number, number]> = [];
  let start = 0;
  for (const bytes of tokenBytes) {
    const endByte = start + bytes.length;
    offsets.push([completedAt[start], completedAt[endByte]]);
    start = endByte;
  }
  return offsets;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Display text of a token: its bytes as UTF-8 (U+FFFD for a partial character). */
export function tokenDisplayText(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** id → UTF-8 bytes for a tokenizer.json, or an actionable error when it is not byte-level BPE. */
export class ByteLevelVocabulary {
  private readonly bytesById = new Map<number, Uint8Array>();

  constructor(tokenizerJson: { model?: { type?: string; vocab?: Record<string, number> }; decoder?: unknown; added_tokens?: Array<{ id: number; content: string }> }) {
    if (!isByteLevel(tokenizerJson.decoder) || !tokenizerJson.model?.vocab || Array.isArray(tokenizerJson.model.vocab)) {
      throw new CriticError('tokenizer_unsupported', 'The critic bundle\'s tokenizer is not a byte-level BPE tokenizer; PassLens needs one (as Phi-4 and Phi-4-mini use) to map tokens to exact text positions.');
    }
    for (const [token, id] of Object.entries(tokenizerJson.model.vocab)) this.bytesById.set(id, byteLevelTokenBytes(token));
    // Added (special) tokens are stored as their literal text, not byte-level encoded.
    for (const added of tokenizerJson.added_tokens ?? []) this.bytesById.set(added.id, utf8.encode(added.content));
  }

  get size(): number {
    return this.bytesById.size;
  }

  bytes(id: number): Uint8Array {
    const bytes = this.bytesById.get(id);
    if (!bytes) throw new CriticError('tokenizer_mismatch', `Token id ${id} is not in the critic tokenizer's vocabulary.`);
    return bytes;
  }
}

function isByteLevel(decoder: unknown): boolean {
  const d = decoder as { type?: string; decoders?: unknown[] } | null | undefined;
  if (!d) return false;
  if (d.type === 'ByteLevel') return true;
  return d.type === 'Sequence' && Array.isArray(d.decoders) && d.decoders.some(isByteLevel);
}
