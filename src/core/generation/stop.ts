/** Stop strings for streamed text: where a candidate ends, and how much of it is safe to emit yet. */

/** Offset of the earliest stop string in `text`, or -1. */
export function stopIndex(text: string, stops: readonly string[]): number {
  let first = -1;
  for (const stop of stops) {
    const at = stop ? text.indexOf(stop) : -1;
    if (at >= 0 && (first < 0 || at < first)) first = at;
  }
  return first;
}

/**
 * How much of `text` (which holds no complete stop string) can be emitted: all but a tail
 * that could still grow into a stop string (the "``" of a closing fence before its last "`").
 */
export function emittableLength(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const stop of stops) {
    for (let k = Math.min(stop.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(stop.slice(0, k))) {
        hold = k;
        break;
      }
    }
  }
  return text.length - hold;
}
