/**
 * Scores the code of one document as it changes: through the critic's KV cache when the
 * new code extends the old (typing at the end of the file), by rescoring otherwise.
 */
import type { Critic, CriticStream, TokenScores } from '../critic/types';
import { AbortError, isAbortError, throwIfAborted } from '../shared/abort';
import { lineConfidences, type LineConfidence } from './lineConfidence';
import type { Problem } from '../problem/types';
import { finalScore } from '../generateAndRank/ranking';

/** Opening of the assistant response the critic scores when it judges code in an editor. */
export const CODE_RESPONSE_PREFIX = '```python\n';

/**
 * How a file's code becomes the assistant response the critic scores: an open ```python
 * block, as a response looks while its code is being written. Leaving the fence open keeps
 * every edit at the end of the file an append (the critic's KV cache stays valid).
 */
export function codeAsResponse(code: string): { text: string; codeStart: number } {
  return { text: CODE_RESPONSE_PREFIX + code, codeStart: CODE_RESPONSE_PREFIX.length };
}

export interface DocumentScore {
  code: string;
  /** Scores over the response `codeAsResponse(code).text`; offsets into it. */
  scores: TokenScores;
  codeStart: number;
  lines: LineConfidence[];
  /** The file's p(pass): the value after its last token. */
  final: number;
  /** True when only the appended text was run through the critic. */
  incremental: boolean;
}

export class DocumentScorer {
  private stream: CriticStream | undefined;
  private streamedText = '';

  /** `incremental: false` rescores everything on each call (the benchmark's baseline). */
  constructor(
    private readonly critic: Critic,
    private readonly problem: Problem,
    private readonly options: { incremental: boolean } = { incremental: true },
  ) {}

  async score(code: string, signal?: AbortSignal): Promise<DocumentScore> {
    const { text, codeStart } = codeAsResponse(code);
    let incremental = false;
    let scores: TokenScores;
    try {
      if (this.options.incremental && this.stream && text.startsWith(this.streamedText)) {
        incremental = true;
        if (text.length > this.streamedText.length) await this.stream.append(text.slice(this.streamedText.length), signal);
      } else {
        await this.closeStream();
        this.stream = await this.critic.open(this.problem);
        this.streamedText = '';
        await this.stream.append(text, signal);
      }
      this.streamedText = text;
      throwIfAborted(signal);
      scores = this.stream.current();
    } catch (error) {
      // A stream interrupted mid-append has an unknown cache state: start over next time.
      await this.closeStream();
      throw isAbortError(error) || signal?.aborted ? new AbortError() : error;
    }
    return { code, scores, codeStart, lines: lineConfidences(scores, code, codeStart), final: finalScore(scores, this.critic.info.specialIds), incremental };
  }

  private async closeStream(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    this.streamedText = '';
    await stream?.close();
  }

  /** Releases the critic stream's KV cache (the critic itself belongs to the caller). */
  dispose(): Promise<void> {
    return this.closeStream();
  }
}
