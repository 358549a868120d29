export * from './types';
export { SandboxClient, SandboxUntrustedError, defaultJudgePath, type SandboxClientOptions } from './client';
