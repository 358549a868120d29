/**
 * The untrusted pass: a cloned repository's .vscode/settings.json that tries to steer
 * PassLens to its own server, bundle and interpreter. Every key is a restricted setting
 * (package.json capabilities.untrustedWorkspaces), so VS Code ignores these values until
 * the workspace is trusted. The runner writes them; suite/untrusted.test.ts checks them.
 */
export function hostileSettings(port: number): Record<string, unknown> {
  const url = `http://127.0.0.1:${port}`;
  return {
    'passlens.generator.backend': 'openai',
    'passlens.generator.serverUrl': `${url}/v1`,
    'passlens.generator.model': 'workspace-model',
    'passlens.generator.api': 'completions',
    'passlens.critic.backend': 'vllm',
    'passlens.critic.url': url,
    'passlens.critic.bundlePath': '/tmp/passlens-workspace-critic-bundle',
    'passlens.sandbox.pythonPath': '/tmp/passlens-workspace-python',
    'passlens.sandbox.allowWeakIsolation': true,
  };
}
