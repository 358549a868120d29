/** Messages between the critic front (local.ts, any thread) and critic.worker.ts. */
import type { Problem } from '../problem/types';
import type { CriticErrorCode } from './errors';
import type { CriticEngine, LocalCriticOptions } from './engine';
import type { TokenScores } from './types';

/** An append's new scores and the index of the first of them in the whole stream. */
export interface AppendResult {
  from: number;
  scores: TokenScores;
}

export type EngineCall =
  | { method: 'score'; args: [Problem, string] }
  | { method: 'scoreMany'; args: [Problem, string[]] }
  | { method: 'open'; args: [Problem] }
  | { method: 'append'; args: [number, string] }
  | { method: 'fork'; args: [number] }
  | { method: 'close'; args: [number] };

export type ToWorker =
  | { type: 'load'; options: LocalCriticOptions }
  | ({ type: 'call'; id: number } & EngineCall)
  | { type: 'cancel'; id: number }
  | { type: 'dispose' };

export type FromWorker =
  | { type: 'loaded'; info: CriticEngine['info'] }
  | { type: 'result'; id: number; value: TokenScores | TokenScores[] | AppendResult | number | null }
  | { type: 'error'; id?: number; code: CriticErrorCode | 'aborted'; message: string }
  | { type: 'disposed' };
