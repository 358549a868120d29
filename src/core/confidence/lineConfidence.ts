/**
 * From per-token critic values to what the editor shows per line: the line's p(pass)
 * (the value after its last token), the token where confidence dropped most, and the
 * curve's trend at that line.
 */
import type { TokenScores } from '../critic/types';

export type Trend = 'rising' | 'falling' | 'steady';

export interface TokenDrop {
  /** The token's text and its [start, end) offsets into the code (not the response). */
  token: string;
  start: number;
  end: number;
  /** Value before the token minus value after it (> 0 is a drop). */
  drop: number;
}

export interface LineConfidence {
  /** 0-based line in the code. */
  line: number;
  /** p(pass) after the last token that ends on this line. */
  value: number;
  /** Lowest value reached on the line. */
  min: number;
  /** The token on the line whose value fell most; undefined if none fell. */
  biggestDrop?: TokenDrop;
  /** Direction of the curve across the line (see `delta`). */
  trend: Trend;
  /** Change in value across the line: its value minus the value just before its first token. */
  delta: number;
}

/** A change smaller than this counts as steady. */
export const TREND_EPSILON = 0.02;

/** Start offset of every line of `code`. */
export function lineStarts(code: string): number[] {
  const starts = [0];
  for (let i = 0; i < code.length; i++) if (code[i] === '\n') starts.push(i + 1);
  return starts;
}

/** Index of the line containing offset (binary search over `starts`). */
export function lineOf(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Aggregates token values over the lines of `code`, which starts at `codeStart` in the
 * scored response. Tokens before the code (the fence) only set the starting value; a token
 * spanning a newline belongs to the line its last non-newline character is on. Blank
 * lines, and lines without a token of their own, are left out.
 */
export function lineConfidences(scores: TokenScores, code: string, codeStart: number): LineConfidence[] {
  const starts = lineStarts(code);
  const byLine = new Map<number, LineConfidence>();
  // Value the curve had before each line's first token: the baseline of its trend.
  const baseOf = new Map<number, number>();
  let previous = Number.NaN;
  for (let t = 0; t < scores.values.length; t++) {
    const value = scores.values[t];
    const start = scores.charOffsets[t][0] - codeStart;
    const end = scores.charOffsets[t][1] - codeStart;
    if (end <= 0 || start >= code.length) {
      previous = value;
      continue;
    }
    // The newline that ends a line belongs to it; a token made only of newlines belongs to the line it ends.
    let last = Math.min(end, code.length) - 1;
    while (last > Math.max(start, 0) && code[last] === '\n') last--;
    const line = lineOf(starts, Math.max(last, 0));
    let entry = byLine.get(line);
    if (!entry) {
      entry = { line, value, min: value, trend: 'steady', delta: 0 };
      byLine.set(line, entry);
      baseOf.set(line, Number.isNaN(previous) ? value : previous);
    }
    entry.value = value;
    entry.min = Math.min(entry.min, value);
    if (!Number.isNaN(previous) && previous - value > (entry.biggestDrop?.drop ?? 0)) {
      entry.biggestDrop = { token: scores.tokens[t], start: Math.max(start, 0), end: Math.min(end, code.length), drop: previous - value };
    }
    previous = value;
  }
  // Blank lines get no entry (no gutter icon on empty space); their tokens still move the curve.
  const isBlank = (line: number) => !code.slice(starts[line], line + 1 < starts.length ? starts[line + 1] : code.length).trim();
  const result = [...byLine.values()].filter((entry) => !isBlank(entry.line)).sort((a, b) => a.line - b.line);
  for (const entry of result) {
    entry.delta = entry.value - (baseOf.get(entry.line) ?? entry.value);
    entry.trend = entry.delta > TREND_EPSILON ? 'rising' : entry.delta < -TREND_EPSILON ? 'falling' : 'steady';
  }
  return result;
}

/** Colour bucket of a p(pass) for the gutter scale, 0 (red) … buckets-1 (green). */
export function confidenceBucket(value: number, buckets = 5): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(buckets - 1, Math.max(0, Math.floor(value * buckets)));
}

/** A compact text sparkline of a curve (for pickers and the CLI), `width` characters. */
export function sparkline(values: readonly number[], width = 16): string {
  const bars = '▁▂▃▄▅▆▇█';
  if (values.length === 0) return '';
  const out: string[] = [];
  const count = Math.min(width, values.length);
  for (let i = 0; i < count; i++) {
    // Each character shows the mean of its slice of the curve.
    const from = Math.floor((i * values.length) / count);
    const to = Math.max(from + 1, Math.floor(((i + 1) * values.length) / count));
    let sum = 0;
    for (let j = from; j < to; j++) sum += values[j];
    const mean = sum / (to - from);
    out.push(bars[Math.min(bars.length - 1, Math.max(0, Math.floor(mean * bars.length)))]);
  }
  return out.join('');
}
