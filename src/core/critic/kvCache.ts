/**
 * The critic's key/value cache, kept in buffers onnxruntime reads in place.
 *
 * A sequence's cache is, per layer and kind, one [1, kv_heads, capacity, head_dim] Float32Array
 * whose first `length` positions are live. It is fed to the graph as the past as it is
 * (onnxruntime-node wraps an input's memory, it does not copy it), with an attention mask
 * that leaves out the positions from `length` to `capacity`. So cutting the cache back to a
 * prefix only sets `length`, and after a pass only the new tokens' keys/values are written
 * in. Capacity grows by a quarter, in blocks of 256 positions, when full: growing copies O(1)
 * per token on average.
 */

export interface KvShape {
  layers: number;
  heads: number;
  headDim: number;
}

const BLOCK = 256;
const GROWTH = 1.25;

export class KvCache {
  private constructor(
    private readonly shape: KvShape,
    private tensors: Float32Array[],
    private capacityValue: number,
    private lengthValue: number,
    /** Buffers another cache (a prompt's) reads too: copied before the first write. */
    private shared: boolean,
  ) {}

  /** No positions yet (a sequence with an empty prompt). */
  static empty(shape: KvShape): KvCache {
    return new KvCache(shape, Array.from({ length: 2 * shape.layers }, () => new Float32Array(0)), 0, 0, false);
  }

  /** The cache of a sequence scored from nothing: a pass's key/value outputs, used as they are (no copy). */
  static fromOutputs(shape: KvShape, outputs: Float32Array[], length: number): KvCache {
    return new KvCache(shape, outputs, length, length, false);
  }

  get length(): number {
    return this.lengthValue;
  }

  get capacity(): number {
    return this.capacityValue;
  }

  /** The buffers to feed as the past, [1, heads, capacity, headDim] each. */
  get past(): readonly Float32Array[] {
    return this.tensors;
  }

  /** Another owner's cache starting from this one's live positions; the buffers are copied only when it writes. */
  fork(): KvCache {
    return new KvCache(this.shape, this.tensors, this.capacityValue, this.lengthValue, true);
  }

  /** Keeps the first `length` positions (the rest are masked from now on and overwritten later). */
  truncate(length: number): void {
    if (length > this.lengthValue || length < 0) throw new RangeError(`cannot cut a ${this.lengthValue}-position cache to ${length}`);
    this.lengthValue = length;
  }

  /**
   * Appends the last `count` positions of a pass's key/value outputs ([1, heads, outputLength,
   * headDim] each: the new tokens' only, or past + new in the Optimum `present` layout).
   * `limit` caps the capacity (the context length).
   */
  append(outputs: readonly Float32Array[], outputLength: number, count: number, limit: number): void {
    const needed = this.lengthValue + count;
    if (this.shared || needed > this.capacityValue) this.reallocate(needed, limit);
    const { heads, headDim } = this.shape;
    const from = outputLength - count;
    outputs.forEach((output, i) => {
      const target = this.tensors[i];
      for (let h = 0; h < heads; h++) {
        const source = output.subarray((h * outputLength + from) * headDim, (h * outputLength + outputLength) * headDim);
        target.set(source, (h * this.capacityValue + this.lengthValue) * headDim);
      }
    });
    this.lengthValue = needed;
  }

  private reallocate(needed: number, limit: number): void {
    const grown = Math.ceil((this.capacityValue * GROWTH) / BLOCK) * BLOCK;
    const capacity = Math.max(needed, Math.min(limit, Math.max(grown, Math.ceil(needed / BLOCK) * BLOCK)));
    const { heads, headDim } = this.shape;
    const live = this.lengthValue * headDim;
    this.tensors = this.tensors.map((old) => {
      const copy = new Float32Array(heads * capacity * headDim);
      for (let h = 0; h < heads; h++) copy.set(old.subarray(h * this.capacityValue * headDim, h * this.capacityValue * headDim + live), h * capacity * headDim);
      return copy;
    });
    this.capacityValue = capacity;
    this.shared = false;
  }
}
