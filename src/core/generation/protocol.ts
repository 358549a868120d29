/** Messages between LocalGenerator (extension host or CLI) and generator.worker.ts. */
import type { ChatMessage } from '../contracts/prompt';

export interface LoadOptions {
  /** Hub id or local folder in transformers.js layout (config.json, tokenizer files, onnx/model*.onnx). */
  model: string;
  dtype: 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
  offlineOnly: boolean;
  /** Where downloads are cached; transformers.js' default when absent. */
  cacheDir?: string;
}

export type ToWorker =
  | { type: 'load'; options: LoadOptions }
  | {
      type: 'generate';
      id: number;
      messages: ChatMessage[];
      n: number;
      temperature: number;
      topK: number;
      topP: number;
      maxNewTokens: number;
      seed?: number;
      /** The response so far, which this generation continues: text (tokenised here) followed by token ids. */
      prefixText?: string;
      prefixIds?: number[];
      /** More of this response may follow: at a length stop, a character split across tokens is held back. */
      holdPartial?: boolean;
      /** Each candidate ends before the first of these strings in what it generates. */
      stop?: string[];
    }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'progress'; file: string; loaded: number; total: number }
  | { type: 'loaded' }
  | { type: 'token'; id: number; candidate: number; text: string; tokenId: number; logprob: number }
  | { type: 'done'; id: number; candidate: number; finishReason: 'stop' | 'length' | 'cancelled' }
  | { type: 'finished'; id: number }
  | { type: 'error'; id?: number; message: string };
