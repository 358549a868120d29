export * from './types';
export { SandboxClient, defaultJudgePath, type SandboxClientOptions } from './client';
export {
  AUTO_ISOLATION,
  WEAK_ISOLATION,
  WEAK_ISOLATION_LABEL,
  WEAK_ISOLATION_WARNING,
  SandboxUnavailableError,
  allowWeakHint,
  isWeakIsolation,
  isWeakMode,
} from './isolation';
