import * as vscode from 'vscode';
import {
  OriginConsent,
  apiKeyFor,
  apiKeySecretName,
  originOf,
  type ConsentRequest,
  type OriginPolicy,
} from '../../core/shared/origin';

/** Global-state key of the origins the user allowed (user state, never the workspace's). */
const APPROVED_ORIGINS = 'passlens.approvedOrigins';
/** Where a key was kept before keys were stored per origin. */
export const LEGACY_API_KEY_SECRET = 'passlens.generator.apiKey';

/** The modal question for an origin the user has not approved yet; true when they allow it. */
async function askUser(request: ConsentRequest): Promise<boolean> {
  const sent = request.sendsKey ? 'the problem statement, the code and the API key you stored for it' : 'the problem statement and the code';
  const choice = await vscode.window.showWarningMessage(
    `Allow PassLens to contact ${request.origin}?`,
    {
      modal: true,
      detail:
        `${request.purpose[0].toUpperCase()}${request.purpose.slice(1)} is set to ${request.origin}. PassLens will send it ${sent}. ` +
        'Nothing has been sent yet. Allow is remembered for this server in your user state (not in the workspace); Cancel until the window reloads.',
    },
    'Allow',
  );
  return choice === 'Allow';
}

/**
 * Keys and approvals per origin: which API key goes to a server, and whether the user has
 * allowed PassLens to contact it. Clients get an OriginPolicy that asks (once, modal) before
 * their first request to an unapproved origin.
 */
export class OriginAccess {
  readonly consent: OriginConsent;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    state: vscode.Memento,
  ) {
    this.consent = new OriginConsent(
      { approved: () => state.get<string[]>(APPROVED_ORIGINS, []), save: (origins) => state.update(APPROVED_ORIGINS, [...origins]) },
      askUser,
    );
  }

  /** The key and the pre-send check for a client of the server at `url`; `purpose` names it in the question. */
  async policyFor(url: string, purpose: string): Promise<Required<Pick<OriginPolicy, 'beforeSend'>> & OriginPolicy> {
    const apiKey = await apiKeyFor(this.secrets, url);
    return { apiKey, beforeSend: (origin) => this.consent.ensure({ origin, purpose, sendsKey: apiKey !== undefined }) };
  }

  keyFor(url: string): Promise<string | undefined> {
    return apiKeyFor(this.secrets, url);
  }

  /** Stores (or, when empty, deletes) the API key of the origin of `url`. */
  async storeKey(url: string, key: string | undefined): Promise<void> {
    const name = apiKeySecretName(originOf(url));
    if (key) await this.secrets.store(name, key);
    else await this.secrets.delete(name);
  }

  /** The user picked this server themselves (Select Generator / Select Critic Model): no question later. */
  approve(url: string): Promise<void> {
    return this.consent.approve(originOf(url));
  }

  /**
   * Moves the one global key of earlier versions to the origin of the user's own (global)
   * generator.serverUrl, where Select Generator saved it alongside the key. A workspace value
   * never decides where it goes; with no user-level URL the key is dropped. The origin is not
   * approved: the first request there still asks.
   */
  async migrateLegacyKey(log: vscode.LogOutputChannel): Promise<void> {
    const legacy = await this.secrets.get(LEGACY_API_KEY_SECRET);
    if (legacy === undefined) return;
    const userUrl = vscode.workspace.getConfiguration('passlens').inspect<string>('generator.serverUrl')?.globalValue;
    let target: string | undefined;
    try {
      target = userUrl ? originOf(userUrl) : undefined;
    } catch {
      target = undefined;
    }
    if (target && legacy && (await this.secrets.get(apiKeySecretName(target))) === undefined) {
      await this.secrets.store(apiKeySecretName(target), legacy);
      log.info(`API key moved to the per-server key of ${target}`);
    } else if (!target) {
      log.warn('the old global API key was dropped: no user-level passlens.generator.serverUrl says which server it belongs to; set it again with PassLens: Select Generator');
    }
    await this.secrets.delete(LEGACY_API_KEY_SECRET);
  }
}
