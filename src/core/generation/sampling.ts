/**
 * Sampling as training specifies it (rollouts/generation.py): logits / temperature, then
 * top-k, then top-p over what top-k kept (Hugging Face's warper order); the recorded
 * log-probability is the token's under the tempered distribution before truncation.
 * transformers.js has neither warper (its TopPLogitsWarper is an empty class, and its sampler
 * applies generation_config.top_k, 50 by default), so the local generator calls these from a
 * logits processor and sets top_k to 0.
 */

export interface SamplingSettings {
  temperature: number;
  /** 0 keeps every token. */
  topK: number;
  /** 1 keeps every token. */
  topP: number;
}

export function logSumExp(values: Float32Array): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/**
 * Sets every logit outside the top-k, then outside the nucleus (the most probable tokens
 * whose probability, renormalised after top-k, first reaches `topP`), to -Infinity, in
 * place. Ties at the k-th value are kept, as Hugging Face's TopKLogitsWarper does; at least
 * one token always stays. Returns how many tokens stay.
 */
export function truncateLogits(logits: Float32Array, topK: number, topP: number): number {
  const size = logits.length;
  if (topK > 0 && topK < size) {
    const kth = Float32Array.from(logits).sort()[size - topK];
    for (let i = 0; i < size; i++) if (logits[i] < kth) logits[i] = -Infinity;
  }
  if (topP < 1) {
    const lse = logSumExp(logits);
    // Tokens below probability (1 - topP) / size together hold at most 1 - topP, so the
    // nucleus lies among the others: only those are sorted (a few hundred, not the vocabulary).
    const floor = lse + Math.log((1 - topP) / size);
    const candidates: number[] = [];
    for (let i = 0; i < size; i++) if (logits[i] > floor) candidates.push(i);
    candidates.sort((a, b) => logits[b] - logits[a]);
    const keep = new Set<number>();
    let mass = 0;
    for (const i of candidates) {
      keep.add(i);
      mass += Math.exp(logits[i] - lse);
      if (mass >= topP) break;
    }
    if (keep.size === 0) keep.add(candidates[0] ?? logits.indexOf(Math.max(...logits)));
    for (let i = 0; i < size; i++) if (!keep.has(i)) logits[i] = -Infinity;
  }
  let kept = 0;
  for (const v of logits) if (v !== -Infinity) kept++;
  return kept;
}

/** Rejects settings no sampler can honour, with the range each must be in. */
export function checkSampling(settings: { temperature: number; topP?: number; topK?: number }): void {
  const { temperature, topP = 1, topK = 0 } = settings;
  if (!(temperature >= 0)) throw new RangeError(`temperature must be 0 (greedy) or more, not ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`top-p must be in (0, 1], not ${topP}`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw new RangeError(`top-k must be a whole number, 0 or more (0: off), not ${topK}`);
}
