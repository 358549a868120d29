/** The critic runtimes: a local bundle (onnxruntime-node in a worker) or a vLLM server. */
export { loadCritic } from './local';
export type { ExecutionProvider, LocalCriticOptions } from './local';
export { createRemoteCritic } from './remote';
export type { RemoteCriticOptions } from './remote';
export { CriticError } from './errors';
export type { CriticErrorCode } from './errors';
export { readCalibration, readManifest, MANIFEST_NAME, FORMAT_VERSION } from './manifest';
export type { CriticManifest, CriticDtype, ModelFileEntry } from './manifest';
export type { VerifiedFile } from './integrity';
export type { Critic, CriticInfo, CriticStream, TokenScores } from './types';
