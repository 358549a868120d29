export * from './types';
export { SandboxClient, defaultJudgePath, type SandboxClientOptions } from './client';
