import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, email, PASSWORD, REFRESH, SIGN_IN, send, startGateway, type TestGateway } from '../helpers.js';

// Cookie mode (REFRESH_TOKEN_COOKIE=on, docs/cookie-sessions.md): the refresh token travels in
// an HttpOnly cookie and never in a body; refresh("") and signOut read it, CORS lets listed
// origins send it. Requests go over node:http so every header is exactly what the test says.

const APP = 'http://app.test';
const NAME = 'authgate-refresh-token';
const SIGN_UP = 'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken } }';
const SIGN_OUT = 'mutation SignOut($scope: SignOutScope) { signOut(scope: $scope) }';

let on: TestGateway;
let proxied: TestGateway;
let off: TestGateway;

beforeAll(async () => {
  [on, proxied, off] = await Promise.all([
    startGateway({ REFRESH_TOKEN_COOKIE: 'on', CORS_ORIGINS: APP, ANONYMOUS_SIGN_IN: 'true' }),
    // A proxy in front whose X-Forwarded-Proto is believed; CORS_ORIGINS unset: any origin.
    startGateway({ REFRESH_TOKEN_COOKIE: 'on', REFRESH_TOKEN_COOKIE_SAMESITE: 'strict', TRUST_PROXY: '1' }),
    startGateway({ CORS_ORIGINS: APP }),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([on?.close(), proxied?.close(), off?.close()]);
});

type Sent = Answer & { body: any; setCookie: string | null };

/** POSTs one GraphQL request as JSON; `cookie` is sent as the refresh-token cookie. */
async function post(
  t: TestGateway,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Sent> {
  const a = await send(
    t.url,
    'POST',
    { 'content-type': 'application/json', ...headers },
    JSON.stringify({ query, variables }),
  );
  const cookies = [a.headers['set-cookie'] ?? []].flat();
  expect(cookies.length, 'at most one Set-Cookie per answer').toBeLessThanOrEqual(1);
  return { ...a, body: JSON.parse(a.text), setCookie: cookies[0] ?? null };
}

const withCookie = (value: string, more: Record<string, string> = {}) => ({ cookie: `${NAME}=${value}`, ...more });

/** The cookie's value and attributes, as a browser parses a Set-Cookie line. */
function parse(setCookie: string | null): { value: string; attrs: Map<string, string> } {
  expect(setCookie).not.toBeNull();
  const [pair, ...rest] = setCookie!.split(';').map((p) => p.trim());
  expect(pair!.startsWith(`${NAME}=`)).toBe(true);
  const attrs = new Map(rest.map((a) => [a.split('=')[0]!.toLowerCase(), a.split('=')[1] ?? ''] as const));
  return { value: pair!.slice(NAME.length + 1), attrs };
}

async function signIn(t: TestGateway, headers: Record<string, string> = {}): Promise<{ mail: string; sent: Sent }> {
  const mail = email('cookie');
  await post(t, SIGN_UP, { input: { email: mail, password: PASSWORD } });
  const sent = await post(t, SIGN_IN, { input: { email: mail, password: PASSWORD } }, headers);
  expect(sent.body.errors).toBeUndefined();
  return { mail, sent };
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/** The stored refresh token's state: spent or not, or gone (its session ended). */
async function stored(t: TestGateway, token: string): Promise<'live' | 'spent' | 'gone'> {
  const [row] = await t.admin<{ spent: boolean }[]>`
    select spent_at is not null as spent from auth.refresh_tokens where token_hash = ${digest(token)}`;
  return row ? (row.spent ? 'spent' : 'live') : 'gone';
}

describe('cookie mode: the refresh token in an HttpOnly cookie', () => {
  it('signIn sets the cookie (HttpOnly, SameSite, Path, Max-Age, no Secure on 127.0.0.1) and leaves the body empty', async () => {
    const { sent } = await signIn(on);
    expect(sent.body.data.signIn.refreshToken).toBe('');
    expect(sent.body.data.signIn.accessToken).toMatch(/^ey/);
    const { value, attrs } = parse(sent.setCookie);
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(attrs.has('httponly')).toBe(true);
    expect(attrs.get('samesite')).toBe('Lax');
    expect(attrs.get('path')).toBe('/graphql');
    expect(attrs.get('max-age')).toBe(String(30 * 24 * 3600));
    expect(attrs.has('domain')).toBe(false);
    expect(attrs.has('secure')).toBe(false);
    expect(await stored(on, value)).toBe('live');
  });

  it('refresh("") spends the cookie and sets the next one; the old value is spent', async () => {
    const { sent } = await signIn(on);
    const first = parse(sent.setCookie).value;
    const refreshed = await post(on, REFRESH, { token: '' }, withCookie(first));
    expect(refreshed.body.errors).toBeUndefined();
    expect(refreshed.body.data.refresh.refreshToken).toBe('');
    const second = parse(refreshed.setCookie).value;
    expect(second).not.toBe(first);
    expect(await stored(on, first)).toBe('spent');
    expect(await stored(on, second)).toBe('live');
    // And the next one works in turn.
    const again = await post(on, REFRESH, { token: '' }, withCookie(second));
    expect(again.body.errors).toBeUndefined();
    expect(await stored(on, second)).toBe('spent');
  });

  it('takes a refresh token given as the argument too, and still answers it in the cookie alone', async () => {
    const { sent } = await signIn(on);
    const token = parse(sent.setCookie).value;
    const refreshed = await post(on, REFRESH, { token });
    expect(refreshed.body.data.refresh.refreshToken).toBe('');
    expect(await stored(on, parse(refreshed.setCookie).value)).toBe('live');
  });

  it('sets the cookie whatever the client selected: nested payloads, anonymous sign-in and known documents included', async () => {
    const mail = email('nested');
    const registered = await post(
      on,
      'mutation R($input: SignUpInput!) { register(input: $input) { session { accessToken refreshToken } } }',
      { input: { email: mail, password: PASSWORD } },
    );
    expect(registered.body.data.register.session.refreshToken).toBe('');
    expect(await stored(on, parse(registered.setCookie).value)).toBe('live');
    // Only the access token selected: the cookie comes all the same. The same text twice: the
    // second answer comes from the fast path for known documents.
    const narrow = 'mutation N($input: SignInInput!) { signIn(input: $input) { accessToken } }';
    const fastBefore = await servedFast(on);
    for (let i = 0; i < 2; i++) {
      const a = await post(on, narrow, { input: { email: mail, password: PASSWORD } });
      expect(a.body.errors).toBeUndefined();
      expect(await stored(on, parse(a.setCookie).value)).toBe('live');
    }
    expect(await servedFast(on)).toBe(fastBefore + 1);
    const anonymous = await post(on, 'mutation { signInAnonymously { refreshToken } }');
    expect(anonymous.body.data.signInAnonymously.refreshToken).toBe('');
    expect(await stored(on, parse(anonymous.setCookie).value)).toBe('live');
  });

  it('signOut with the cookie alone ends its session and clears the cookie', async () => {
    const { sent } = await signIn(on);
    const token = parse(sent.setCookie).value;
    const out = await post(on, SIGN_OUT, {}, withCookie(token));
    expect(out.body).toEqual({ data: { signOut: true } });
    const cleared = parse(out.setCookie);
    expect(cleared.value).toBe('');
    expect(cleared.attrs.get('max-age')).toBe('0');
    expect(cleared.attrs.get('path')).toBe('/graphql');
    expect(await stored(on, token)).toBe('gone');
    const refused = await post(on, REFRESH, { token: '' }, withCookie(token));
    expect(refused.body.errors[0].extensions.code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('signOut with the bearer token ends its session and clears the cookie too', async () => {
    const { sent } = await signIn(on);
    const token = parse(sent.setCookie).value;
    const bearer = { authorization: `Bearer ${sent.body.data.signIn.accessToken}` };
    const out = await post(on, SIGN_OUT, { scope: 'LOCAL' }, withCookie(token, bearer));
    expect(out.body).toEqual({ data: { signOut: true } });
    expect(parse(out.setCookie).attrs.get('max-age')).toBe('0');
    expect(await stored(on, token)).toBe('gone');
  });

  it('signOut with neither a bearer token nor a live cookie is UNAUTHENTICATED, and clears a dead cookie', async () => {
    expect((await post(on, SIGN_OUT)).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const dead = await post(on, SIGN_OUT, {}, withCookie('x'.repeat(43)));
    expect(dead.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(parse(dead.setCookie).attrs.get('max-age')).toBe('0');
  });

  it('a refused cookie is INVALID_REFRESH_TOKEN and is cleared; an empty argument without a cookie is INVALID_REFRESH_TOKEN', async () => {
    const stale = await post(on, REFRESH, { token: '' }, withCookie('y'.repeat(43)));
    expect(stale.body.errors[0].extensions.code).toBe('INVALID_REFRESH_TOKEN');
    expect(parse(stale.setCookie).attrs.get('max-age')).toBe('0');
    const none = await post(on, REFRESH, { token: '' });
    expect(none.body.errors[0].extensions.code).toBe('INVALID_REFRESH_TOKEN');
    expect(none.body.data).toBeNull();
  });

  it('is Secure unless the request is plain http to this machine', async () => {
    // Another host name: whatever the scheme says, the cookie only goes back over https.
    expect(parse((await signIn(on, { host: 'api.example.com' })).sent.setCookie).attrs.has('secure')).toBe(true);
    // X-Forwarded-Proto is believed only from a trusted proxy.
    expect(parse((await signIn(on, { 'x-forwarded-proto': 'https' })).sent.setCookie).attrs.has('secure')).toBe(false);
    const behindProxy = parse((await signIn(proxied, { 'x-forwarded-proto': 'https' })).sent.setCookie);
    expect(behindProxy.attrs.has('secure')).toBe(true);
    expect(behindProxy.attrs.get('samesite')).toBe('Strict');
    expect(parse((await signIn(proxied, { host: '[::1]:4000' })).sent.setCookie).attrs.has('secure')).toBe(false);
  });

  it('lets only origins listed by name send credentials', async () => {
    const preflight = (t: TestGateway, origin: string) =>
      send(t.url, 'OPTIONS', {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      });
    const listed = await preflight(on, APP);
    expect(listed.headers['access-control-allow-origin']).toBe(APP);
    expect(listed.headers['access-control-allow-credentials']).toBe('true');
    const answer = await post(on, SIGN_IN, { input: { email: 'a@b.c', password: 'x' } }, { origin: APP });
    expect(answer.headers['access-control-allow-credentials']).toBe('true');
    const stranger = await preflight(on, 'http://evil.test');
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    expect(stranger.headers['access-control-allow-credentials']).toBeUndefined();
    // "Any origin" may read answers, never send the cookie along.
    const any = await preflight(proxied, 'http://evil.test');
    expect(any.headers['access-control-allow-origin']).toBe('http://evil.test');
    expect(any.headers['access-control-allow-credentials']).toBeUndefined();
    // Outside cookie mode, no credentials at all.
    expect((await preflight(off, APP)).headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('cookie mode off (the default)', () => {
  it('sets no cookie, answers the refresh token in the body and ignores a cookie', async () => {
    const { sent } = await signIn(off);
    expect(sent.setCookie).toBeNull();
    const token = sent.body.data.signIn.refreshToken as string;
    expect(await stored(off, token)).toBe('live');
    const fromCookie = await post(off, REFRESH, { token: '' }, withCookie(token));
    expect(fromCookie.body.errors[0].extensions.code).toBe('INVALID_REFRESH_TOKEN');
    expect(fromCookie.setCookie).toBeNull();
    const refreshed = await post(off, REFRESH, { token });
    expect(refreshed.body.data.refresh.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(refreshed.setCookie).toBeNull();
    // signOut still needs the bearer token: a cookie means nothing here.
    expect((await post(off, SIGN_OUT, {}, withCookie(token))).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

async function servedFast(t: TestGateway): Promise<number> {
  const text = await (await fetch(new URL('/metrics', t.url))).text();
  return Number(/^authgate_graphql_known_document_requests_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}
