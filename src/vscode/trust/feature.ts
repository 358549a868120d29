import * as vscode from 'vscode';
import { OriginAccess } from './originAccess';

/** Keys and approvals per server origin, shared by the generator and the critic. */
export function registerOriginAccess(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): OriginAccess {
  const access = new OriginAccess(context.secrets, context.globalState);
  void access.migrateLegacyKey(log).catch((error: unknown) => log.warn(`moving the old API key failed: ${String(error)}`));
  return access;
}
