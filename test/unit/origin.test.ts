/**
 * Where keys and code may go: origin normalisation, the ask-once consent flow (the prompt is
 * the one faked boundary: a function standing in for the editor's modal), keys per origin,
 * and requests that never leave their origin, against real loopback servers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BadServerUrlError,
  CrossOriginRedirectError,
  OriginConsent,
  OriginDeclinedError,
  apiKeyFor,
  apiKeySecretName,
  originOf,
  sendToOrigin,
  type ConsentRequest,
} from '../../src/core/shared/origin';
import { OpenAIGenerator } from '../../src/core/generation/openai';
import { collectCandidates } from '../../src/core/generation/types';
import { createRemoteCritic } from '../../src/core/critic';
import { buildMessages } from '../../src/core/contracts/prompt';

interface Seen {
  method: string;
  path: string;
  auth: string | undefined;
  body: string;
}

/** A loopback server that records every request and answers with `answer`. */
async function recordingServer(answer: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, seen };
}

let elsewhere: Awaited<ReturnType<typeof recordingServer>>;
let redirector: Awaited<ReturnType<typeof recordingServer>>;

before(async () => {
  elsewhere = await recordingServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[{"id":"x"}]}'));
  // Sends /same/* to /ok on itself, everything else to the other server (another port: another origin).
  redirector = await recordingServer((req, res) => {
    if (req.url === '/ok' || req.url === '/v1/ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    if (req.url?.startsWith('/same/')) return void res.writeHead(Number(req.url.split('/')[2]), { location: '/ok' }).end();
    res.writeHead(307, { location: `${elsewhere.url}${req.url}` }).end();
  });
});

after(() => {
  for (const { server } of [elsewhere, redirector]) {
    server.closeAllConnections();
    server.close();
  }
});

test('originOf: scheme and host lower-cased, default ports dropped, path, query and credentials ignored', () => {
  assert.equal(originOf('HTTP://LocalHost:80/v1/'), 'http://localhost');
  assert.equal(originOf('https://Example.COM:443/a/b?c=d#e'), 'https://example.com');
  assert.equal(originOf('https://example.com:8443/v1'), 'https://example.com:8443');
  assert.equal(originOf('http://user:secret@127.0.0.1:8000/v1'), 'http://127.0.0.1:8000');
  // Same host, another port or scheme: another origin.
  assert.notEqual(originOf('http://127.0.0.1:8000'), originOf('http://127.0.0.1:8001'));
  assert.notEqual(originOf('http://example.com'), originOf('https://example.com'));
  assert.throws(() => originOf('file:///etc/passwd'), BadServerUrlError);
  assert.throws(() => originOf('127.0.0.1:8000'), /not a server URL/);
  assert.throws(() => originOf('not a url'), BadServerUrlError);
});

test('keys are looked up per origin: a key stored for one server is never returned for another', async () => {
  const secrets = new Map<string, string>([[apiKeySecretName('http://127.0.0.1:8000'), 'key-8000']]);
  assert.equal(await apiKeyFor(secrets, 'http://127.0.0.1:8000/v1'), 'key-8000');
  assert.equal(await apiKeyFor(secrets, 'HTTP://127.0.0.1:8000/other/path'), 'key-8000');
  assert.equal(await apiKeyFor(secrets, 'http://127.0.0.1:8001/v1'), undefined);
  assert.equal(await apiKeyFor(secrets, 'https://127.0.0.1:8000/v1'), undefined);
  assert.equal(await apiKeyFor(secrets, 'http://localhost:8000/v1'), undefined);
});

/** The consent flow over an in-memory store, with the prompt answering from `answers`. */
function consentWith(answers: boolean[], approved: string[] = []) {
  const asked: ConsentRequest[] = [];
  const consent = new OriginConsent(
    { approved: () => approved, save: (origins) => void (approved = [...origins]) },
    async (request) => {
      asked.push(request);
      await new Promise((resolve) => setTimeout(resolve, 10));
      return answers.shift() ?? false;
    },
  );
  return { consent, asked, approved: () => approved };
}

test('consent: asks once per origin (concurrent requests share the question) and keeps an approval', async () => {
  const { consent, asked, approved } = consentWith([true]);
  const request = { origin: 'http://127.0.0.1:9000', purpose: 'the generator server', sendsKey: true };
  await Promise.all([consent.ensure(request), consent.ensure(request), consent.ensure(request)]);
  assert.equal(asked.length, 1, 'three requests, one question');
  assert.deepEqual(asked[0], request, 'the question names the origin and whether a key goes with it');
  await consent.ensure(request);
  assert.equal(asked.length, 1, 'approved: never asked again');
  assert.deepEqual(approved(), ['http://127.0.0.1:9000']);
  // Approvals outlive the session (they are in the store); another origin is another question.
  const later = consentWith([false], approved());
  await later.consent.ensure(request);
  await assert.rejects(later.consent.ensure({ ...request, origin: 'http://127.0.0.1:9001' }), OriginDeclinedError);
  assert.equal(later.asked.length, 1);
});

test('consent: a refusal sends nothing and holds for the session, not beyond; choosing the origin lifts it', async () => {
  const { consent, asked, approved } = consentWith([false, true]);
  const request = { origin: 'http://127.0.0.1:9000', purpose: 'the critic server', sendsKey: false };
  const declined = await Promise.allSettled([consent.ensure(request), consent.ensure(request)]);
  assert.ok(declined.every((r) => r.status === 'rejected' && r.reason instanceof OriginDeclinedError));
  assert.match((declined[0] as PromiseRejectedResult).reason.message, /Nothing was sent to http:\/\/127\.0\.0\.1:9000.*Select Generator or Select Critic Model/);
  // Live scoring retries on every pause in typing: it must not ask again.
  await assert.rejects(consent.ensure(request), OriginDeclinedError);
  assert.equal(asked.length, 1);
  assert.deepEqual(approved(), [], 'a refusal is not stored');
  const nextSession = consentWith([true], approved());
  await nextSession.consent.ensure(request);
  assert.equal(nextSession.asked.length, 1, 'a new session asks again');
  // Picking the origin in Select Generator / Select Critic Model approves it.
  await consent.approve(request.origin);
  await consent.ensure(request);
  assert.equal(asked.length, 1);
});

test('sendToOrigin: a redirect to another origin is refused; that origin never sees the key or the code', async () => {
  const before = elsewhere.seen.length;
  await assert.rejects(
    sendToOrigin(`${redirector.url}/v1/chat/completions`, { method: 'POST', body: '{"code":"SECRET_CODE"}' }, { apiKey: 'KEY-1' }),
    (error: unknown) => error instanceof CrossOriginRedirectError && error.from === redirector.url && error.to === elsewhere.url,
  );
  assert.equal(elsewhere.seen.length, before, 'nothing reached the other origin');
  const asked = redirector.seen[redirector.seen.length - 1];
  assert.equal(asked.auth, 'Bearer KEY-1', 'the key went to its own origin');
  assert.equal(asked.body, '{"code":"SECRET_CODE"}');
  // Node's fetch on its own would have followed: the body (the code) arrives elsewhere.
  await fetch(`${redirector.url}/v1/models`, { method: 'POST', body: 'SECRET_CODE' });
  assert.equal(elsewhere.seen[elsewhere.seen.length - 1].body, 'SECRET_CODE', 'the default fetch follows a 307 with the body');
});

test('sendToOrigin: redirects within the origin are followed with the key; 303 continues as GET without the body', async () => {
  const temporary = await sendToOrigin(`${redirector.url}/same/307`, { method: 'POST', body: 'x' }, { apiKey: 'KEY-2' });
  assert.deepEqual(await temporary.json(), { ok: true });
  const followed = redirector.seen[redirector.seen.length - 1];
  assert.deepEqual([followed.method, followed.path, followed.auth, followed.body], ['POST', '/ok', 'Bearer KEY-2', 'x']);
  await sendToOrigin(`${redirector.url}/same/303`, { method: 'POST', body: 'x' }, { apiKey: 'KEY-2' });
  const asGet = redirector.seen[redirector.seen.length - 1];
  assert.deepEqual([asGet.method, asGet.path, asGet.auth, asGet.body], ['GET', '/ok', 'Bearer KEY-2', '']);
});

test('sendToOrigin: beforeSend runs first with the origin; rejecting it sends nothing', async () => {
  const before = redirector.seen.length;
  const origins: string[] = [];
  await assert.rejects(
    sendToOrigin(`${redirector.url}/ok`, { method: 'POST', body: 'code' }, {
      apiKey: 'KEY-3',
      beforeSend: async (origin) => {
        origins.push(origin);
        throw new OriginDeclinedError(origin);
      },
    }),
    OriginDeclinedError,
  );
  assert.deepEqual(origins, [redirector.url]);
  assert.equal(redirector.seen.length, before);
});

test('the generator and the vLLM critic ask before their first request and send nothing when declined', async () => {
  const server = await recordingServer((_req, res) => res.writeHead(500).end());
  try {
    const { consent, asked } = consentWith([false, false, false]);
    const beforeSend = (origin: string) => consent.ensure({ origin, purpose: 'test', sendsKey: true });
    const generator = new OpenAIGenerator({ baseUrl: `${server.url}/v1`, model: 'm', api: 'chat', apiKey: 'KEY-4', beforeSend });
    const request = { messages: buildMessages({ question: 'Print 1.', kind: 'standard_input' }), n: 2, temperature: 0.7, maxNewTokens: 8 };
    await assert.rejects(collectCandidates(generator, request), OriginDeclinedError);
    await assert.rejects(generator.listModels(), OriginDeclinedError);
    await assert.rejects(createRemoteCritic({ url: server.url, apiKey: 'KEY-4', beforeSend }), OriginDeclinedError);
    assert.equal(server.seen.length, 0, 'no request reached the server');
    assert.equal(asked.length, 1, 'asked once; the refusal holds for the next requests');
    assert.equal(asked[0].origin, server.url);
  } finally {
    server.server.close();
  }
});

test('the generator and the vLLM critic refuse a redirect to another origin', async () => {
  const before = elsewhere.seen.length;
  const generator = new OpenAIGenerator({ baseUrl: `${redirector.url}/v1`, model: 'm', api: 'chat', apiKey: 'KEY-5' });
  const request = { messages: buildMessages({ question: 'Print 1.', kind: 'standard_input' }), n: 1, temperature: 0.7, maxNewTokens: 8 };
  await assert.rejects(collectCandidates(generator, request), CrossOriginRedirectError);
  await assert.rejects(createRemoteCritic({ url: redirector.url, apiKey: 'KEY-5' }), CrossOriginRedirectError);
  assert.equal(elsewhere.seen.length, before);
});
