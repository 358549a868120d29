import * as vscode from 'vscode';

/**
 * Wires PassLens' features into VS Code. Nothing here loads a model: critics and
 * generators start lazily on first use.
 */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('PassLens', { log: true });
  context.subscriptions.push(log);
  log.info('PassLens activated');
}

export function deactivate(): void {
  // Disposables registered on the context are released by VS Code.
}
