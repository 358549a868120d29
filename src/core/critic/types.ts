import type { Calibration } from '../contracts/calibration';
import type { Problem, PromptTemplates } from '../problem/types';
import type { VerifiedFile } from './integrity';

/** Per-token critic output over a scored text (the assistant response, not the prompt). */
export interface TokenScores {
  /** Decoded text of each token (may be a partial character for split multi-byte chars). */
  tokens: string[];
  tokenIds: number[];
  /** [start, end) UTF-16 offsets of each token into the scored text. */
  charOffsets: Array<[number, number]>;
  /** p(pass) after each token, in [0, 1]; calibrated when the critic has a calibration (`CriticInfo.calibration`). */
  values: number[];
  /** Set when the input was changed to fit, e.g. the prompt's beginning was cut to fit the context. */
  notice?: string;
}

export interface CriticInfo {
  /** Human-readable name: bundle folder or server URL plus base model. */
  name: string;
  baseModel: string;
  templates: PromptTemplates;
  /** Token ids the ranking rule skips (contracts: rankingIndex): end-of-sequence, padding, chat markers. */
  specialIds: number[];
  /** Execution provider actually in use ('cpu', 'cuda', ... or 'remote'). */
  provider: string;
  /** Things the user should know about how the critic was loaded (e.g. fell back to CPU). */
  notices?: string[];
  /** Local bundles: the model files checked against the manifest's sha256, and whether a cached check was reused. */
  verified?: VerifiedFile[];
  /** The calibration applied to every value (fitted on a validation split); absent: raw values. */
  calibration?: Calibration;
}

/** Incremental scoring of one growing response, O(new tokens) per append via the KV cache. */
export interface CriticStream {
  /** Appends text; returns scores of the tokens that changed or are new (offsets into the full text). */
  append(chunk: string, signal?: AbortSignal): Promise<TokenScores>;
  /**
   * A second stream that starts with this one's text and scores, without scoring them
   * again (locally it shares the KV cache); each then extends on its own. It sees every
   * append sent before it.
   */
  fork(): Promise<CriticStream>;
  /** Everything scored so far. */
  current(): TokenScores;
  close(): Promise<void>;
}

export interface Critic {
  readonly info: CriticInfo;
  score(problem: Problem, text: string, signal?: AbortSignal): Promise<TokenScores>;
  /** Scores several responses to the same problem, reusing the prompt's KV cache. */
  scoreMany(problem: Problem, texts: readonly string[], signal?: AbortSignal): Promise<TokenScores[]>;
  open(problem: Problem): Promise<CriticStream>;
  dispose(): Promise<void>;
}
