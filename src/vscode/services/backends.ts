/** The concrete critic runtimes and sandbox client behind the services' factory types. */
import { createRemoteCritic, loadCritic } from '../../core/critic';
import { SandboxClient } from '../../core/sandbox';
import type { CriticLoader } from './criticService';
import type { JudgeFactory } from './sandboxService';
import { join } from 'node:path';

export const loadConfiguredCritic: CriticLoader = async (settings) =>
  settings.backend === 'vllm'
    ? createRemoteCritic({ url: settings.url })
    : loadCritic({ bundlePath: settings.bundlePath, executionProvider: settings.executionProvider });

/** The judge shipped in the .vsix (python-sandbox/judge.py beside dist/). */
export function createJudge(extensionPath: string): JudgeFactory {
  return (settings, trusted) =>
    new SandboxClient({ pythonPath: settings.pythonPath, judgePath: join(extensionPath, 'python-sandbox', 'judge.py'), trusted });
}
