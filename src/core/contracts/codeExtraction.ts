/**
 * Which code a response holds: what is judged in the sandbox and inserted into the editor.
 * The rule is the contract's (contracts/README.md), the same one training labels with.
 */

const FENCE = '```';
const PYTHON_TAGS = new Set(['python', 'py', 'python3']);

interface Block {
  /** First word of the info string, lower-cased ('' for a bare fence). */
  tag: string;
  /** UTF-16 offset of the block's first character. */
  start: number;
  /** Offset of the closing fence; undefined when the block is never closed. */
  end?: number;
}

/** Fenced blocks in order: a ``` opens a block (its info string runs to the end of the line), the next ``` closes it. */
function fencedBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  let at = 0;
  for (;;) {
    const open = text.indexOf(FENCE, at);
    if (open < 0) return blocks;
    const newline = text.indexOf('\n', open + FENCE.length);
    const info = text.slice(open + FENCE.length, newline >= 0 ? newline : text.length);
    const start = newline >= 0 ? newline + 1 : text.length;
    const tag = (info.trim().split(/\s+/)[0] ?? '').toLowerCase();
    const close = text.indexOf(FENCE, start);
    blocks.push({ tag, start, end: close >= 0 ? close : undefined });
    if (close < 0) return blocks;
    at = close + FENCE.length;
  }
}

export interface ExtractedCode {
  code: string;
  /** UTF-16 offset of the code's first character in the response; -1 when there is no code. */
  start: number;
}

/**
 * The last closed ```python block; else the last closed bare ``` block; else a python or bare
 * block left open at the end (generation cut off); else no code. Blocks tagged with another
 * language (```text, ```bash) are never code.
 */
export function extractCode(response: string): ExtractedCode {
  const blocks = fencedBlocks(response);
  const closed = (keep: (b: Block) => boolean) => blocks.filter((b) => b.end !== undefined && keep(b));
  for (const group of [closed((b) => PYTHON_TAGS.has(b.tag)), closed((b) => b.tag === '')]) {
    const last = group.at(-1);
    if (last) return { code: response.slice(last.start, last.end), start: last.start };
  }
  const tail = blocks.at(-1);
  if (tail && tail.end === undefined && (PYTHON_TAGS.has(tail.tag) || tail.tag === '')) return { code: response.slice(tail.start), start: tail.start };
  return { code: '', start: -1 };
}
