/**
 * Where PassLens sends things. A server is known by its origin (scheme + host + port): API
 * keys are stored per origin, the user approves each origin once before any key or code goes
 * there, and requests never leave the origin they were approved for (sendToOrigin).
 */
import { AbortError } from './abort';

/** A URL PassLens will not send anything to (not http(s), or not a URL). */
export class BadServerUrlError extends Error {
  constructor(url: string, why: string) {
    super(`${JSON.stringify(url)} is not a server URL PassLens can use: ${why}. Give an http:// or https:// URL.`);
    this.name = 'BadServerUrlError';
  }
}

/**
 * The origin of an http(s) URL, normalised: lower-case scheme and host, default ports
 * dropped (http :80, https :443), no path, query, fragment or credentials.
 * `HTTP://LocalHost:80/v1/` → `http://localhost`.
 */
export function originOf(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BadServerUrlError(url, 'it does not parse as a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new BadServerUrlError(url, `the scheme is ${parsed.protocol.replace(/:$/, '')}`);
  // URL already lower-cases scheme and host and drops the scheme's default port.
  return parsed.origin;
}

/** The secret-storage name of the API key for `origin` (one key per origin, never in settings). */
export function apiKeySecretName(origin: string): string {
  return `passlens.apiKey:${origin}`;
}

/** The piece of a secret store key lookup needs (VS Code's SecretStorage, or a Map in tests). */
export interface SecretReader {
  get(name: string): PromiseLike<string | undefined> | string | undefined;
}

/** The API key stored for the origin of `url`, if any: a key stored for another origin is never returned. */
export async function apiKeyFor(secrets: SecretReader, url: string): Promise<string | undefined> {
  return (await secrets.get(apiKeySecretName(originOf(url)))) || undefined;
}

/** The user declined sending to an origin: the operation stops and nothing was sent. */
export class OriginDeclinedError extends Error {
  constructor(readonly origin: string) {
    super(
      `Nothing was sent to ${origin}: you did not allow PassLens to contact it, and it will not ask again in this window. ` +
        'To use it, choose it with PassLens: Select Generator or Select Critic Model (or reload the window to be asked again); otherwise pick another server there.',
    );
    this.name = 'OriginDeclinedError';
  }
}

/** What a request to an unapproved origin would send, for the question put to the user. */
export interface ConsentRequest {
  origin: string;
  /** Who asks, e.g. "the generator server" or "the critic server". */
  purpose: string;
  /** Whether an API key is stored for the origin (and so would be sent). */
  sendsKey: boolean;
}

/** Where approvals live (the user's global state in the editor; never the workspace). */
export interface ApprovalStore {
  approved(): readonly string[];
  save(origins: readonly string[]): PromiseLike<void> | void;
}

/**
 * Asks once per origin. Concurrent requests to one unapproved origin share one question; an
 * approval is kept in the store; a refusal holds for this session only (in memory), so
 * background work such as live scoring does not ask again and again. `prompt` resolves true
 * to allow.
 */
export class OriginConsent {
  private readonly asking = new Map<string, Promise<void>>();
  private readonly declined = new Set<string>();

  constructor(
    private readonly store: ApprovalStore,
    private readonly prompt: (request: ConsentRequest) => Promise<boolean>,
  ) {}

  isApproved(origin: string): boolean {
    return this.store.approved().includes(origin);
  }

  /** Records that the user chose this origin themselves (Select Generator, Select Critic Model). */
  async approve(origin: string): Promise<void> {
    this.declined.delete(origin);
    if (!this.isApproved(origin)) await this.store.save([...this.store.approved(), origin]);
  }

  /** Resolves when `request.origin` may be contacted; rejects with OriginDeclinedError otherwise. */
  ensure(request: ConsentRequest): Promise<void> {
    if (this.isApproved(request.origin)) return Promise.resolve();
    if (this.declined.has(request.origin)) return Promise.reject(new OriginDeclinedError(request.origin));
    let pending = this.asking.get(request.origin);
    if (!pending) {
      pending = this.prompt(request)
        .then(async (allowed) => {
          if (!allowed) {
            this.declined.add(request.origin);
            throw new OriginDeclinedError(request.origin);
          }
          await this.approve(request.origin);
        })
        .finally(() => this.asking.delete(request.origin));
      this.asking.set(request.origin, pending);
    }
    return pending;
  }
}

/** How a client may reach its server: the key for that origin and the check made before anything is sent. */
export interface OriginPolicy {
  /** Bearer token, sent only to the origin of the client's URL. */
  apiKey?: string;
  /** Called with the origin before any request goes out; rejecting stops the request. */
  beforeSend?: (origin: string) => Promise<void>;
}

/** A server redirected a request to another origin: it was not followed (the key and code stay put). */
export class CrossOriginRedirectError extends Error {
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`The server at ${from} redirected to ${to}. PassLens does not follow redirects to another origin (it would send your code and key there); point the setting at ${to} yourself if you trust it.`);
    this.name = 'CrossOriginRedirectError';
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * fetch() that stays on the origin of `url`: asks `policy.beforeSend` first, adds the key
 * as a Bearer token, and follows redirects itself (Node's fetch would follow one to another
 * origin and re-send the body on 307/308) only within the origin; a redirect elsewhere
 * rejects with CrossOriginRedirectError before anything is sent there.
 */
export async function sendToOrigin(url: string, init: RequestInit, policy: OriginPolicy = {}): Promise<Response> {
  const origin = originOf(url);
  await policy.beforeSend?.(origin);
  if (init.signal?.aborted) throw new AbortError();
  const headers = new Headers(init.headers);
  if (policy.apiKey) headers.set('authorization', `Bearer ${policy.apiKey}`);
  let current = new URL(url);
  let request: RequestInit = { ...init, headers, redirect: 'manual' };
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, request);
    if (!REDIRECTS.has(response.status)) return response;
    const location = response.headers.get('location');
    await response.body?.cancel().catch(() => undefined);
    if (!location) throw new Error(`The server at ${origin} answered HTTP ${response.status} without a Location.`);
    const next = new URL(location, current);
    if (next.origin !== origin) throw new CrossOriginRedirectError(origin, next.origin);
    if (hop + 1 >= MAX_REDIRECTS) throw new Error(`The server at ${origin} redirected more than ${MAX_REDIRECTS} times.`);
    // As fetch does: 303 (and 301/302 after a POST) continue as a GET without the body.
    if (response.status === 303 || ((response.status === 301 || response.status === 302) && request.method === 'POST')) {
      const getHeaders = new Headers(headers);
      getHeaders.delete('content-type');
      request = { ...request, method: 'GET', body: undefined, headers: getHeaders };
    }
    current = next;
  }
}
