/** The one refusal for untrusted workspaces: what PassLens will not do there, and how to allow it. */
export class UntrustedWorkspaceError extends Error {
  constructor(action = 'run model-written code in the sandbox') {
    super(`PassLens will not ${action} in an untrusted workspace. Trust the workspace (Workspaces: Manage Workspace Trust) to allow it.`);
    this.name = 'UntrustedWorkspaceError';
  }
}
