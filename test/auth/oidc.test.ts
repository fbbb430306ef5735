import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ProviderAccount, type ProviderHarness, startProvider } from '../../dev/oidc-provider.js';
import {
  codeOf,
  email,
  type GqlResponse,
  ME,
  PASSWORD,
  type Session,
  SIGN_IN,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';
import {
  browse,
  signInThrough as browserSignIn,
  CookieJar,
  get,
  type Landing,
  type SignInOptions,
  startUrl,
} from '../oidc-browser.js';
import { freePort } from '../ports.js';

/**
 * The OpenID Connect sign-in broker against a real provider (oidc-provider) on 127.0.0.1:
 * a browser is played by fetch with manual redirects and a small cookie jar, the app by
 * GraphQL calls. Two gateway entries name the same provider and client: "local" as an
 * operator would configure an untrusted provider, "trusted" with trustEmail.
 */

let t: TestGateway;
let h: ProviderHarness;
let gatewayOrigin: string;
/** Where the app wants finished sign-ins: a port nothing listens on, never requested. */
let appUrl: string;

beforeAll(async () => {
  const port = await freePort();
  gatewayOrigin = `http://127.0.0.1:${port}`;
  appUrl = `http://127.0.0.1:${await freePort()}/app/signed-in`;
  h = await startProvider({
    redirectUris: [`${gatewayOrigin}/auth/local/callback`, `${gatewayOrigin}/auth/trusted/callback`],
  });
  const entry = { issuer: h.issuer, clientId: h.clientId, clientSecret: h.clientSecret, timeoutMs: 5000 };
  t = await startGateway(
    {
      PUBLIC_URL: gatewayOrigin,
      OIDC_PROVIDERS: JSON.stringify([
        { name: 'local', ...entry },
        { name: 'trusted', ...entry, trustEmail: true },
        // Nothing listens there.
        { name: 'down', ...entry, issuer: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 },
      ]),
      OIDC_REDIRECT_URLS: appUrl,
    },
    { port },
  );
});
afterAll(async () => {
  await t?.close();
  await h?.close();
});
afterEach(() => {
  // Whatever a test provoked, the provider itself must not have failed.
  expect(h.serverErrors).toEqual([]);
});

// --- the browser (shared with the web-client example's test, in oidc-browser.ts) ---------

/** The shared browser sign-in, sent back to this file's app URL unless told otherwise. */
function signInThrough(
  harness: ProviderHarness,
  gw: TestGateway,
  opts: Omit<SignInOptions, 'redirectTo'> & { redirectTo?: string },
): Promise<Landing> {
  return browserSignIn(harness, gw, { ...opts, redirectTo: opts.redirectTo ?? appUrl });
}

/** A sign-in that must land on the app with a code. */
async function codeFor(
  account: string,
  opts: Omit<Parameters<typeof signInThrough>[2], 'account'> = {},
): Promise<string> {
  const landing = await signInThrough(h, t, { account, ...opts });
  expect(landing.error).toBeNull();
  expect(landing.code).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return landing.code!;
}

// --- the app ----------------------------------------------------------------------------

const EXCHANGE = /* GraphQL */ `
  mutation Exchange($code: String!, $verifier: String) {
    exchangeCode(code: $code, codeVerifier: $verifier) {
      accessToken refreshToken tokenType user { id email }
    }
  }`;
const IDENTITIES = 'query { identities { id provider providerUserId email createdAt lastSignInAt } }';
const LINK = /* GraphQL */ `
  mutation Link($provider: String!, $redirectTo: String, $codeChallenge: String) {
    linkIdentity(provider: $provider, redirectTo: $redirectTo, codeChallenge: $codeChallenge) { provider url }
  }`;
const UNLINK = 'mutation Unlink($id: ID!) { unlinkIdentity(id: $id) }';

type Tokens = { accessToken: string; refreshToken: string; userId: string; email: string };

const reasonOf = (res: GqlResponse): unknown => res.errors?.[0]?.extensions?.reason;

async function exchange(code: string, verifier?: string, token?: string): Promise<GqlResponse> {
  return t.gql(EXCHANGE, { code, verifier }, token);
}

/** exchangeCode that must succeed. */
async function exchanged(code: string, verifier?: string, token?: string): Promise<Tokens> {
  const res = await exchange(code, verifier, token);
  expect(res.errors).toBeUndefined();
  const p = res.data!.exchangeCode;
  return { accessToken: p.accessToken, refreshToken: p.refreshToken, userId: p.user.id, email: p.user.email };
}

async function identities(token: string): Promise<Array<Record<string, any>>> {
  const res = await t.gql(IDENTITIES, {}, token);
  expect(res.errors).toBeUndefined();
  return res.data!.identities;
}

const userCount = async (): Promise<number> => {
  const [row] = await t.admin`select count(*)::int as n from auth.users`;
  return Number(row?.n);
};

/** A new person at the provider. */
function account(tag: string, extra: Partial<ProviderAccount> = {}): ProviderAccount {
  const a: ProviderAccount = {
    sub: `${tag}-${randomBytes(6).toString('hex')}`,
    email: email(tag),
    email_verified: true,
    name: `${tag} Example`,
    ...extra,
  };
  h.accounts.set(a.sub, a);
  return a;
}

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Signs in through the provider from scratch and exchanges the code: a session of that account. */
async function providerSession(a: ProviderAccount, provider = 'local'): Promise<Tokens> {
  return exchanged(await codeFor(a.sub, { provider }));
}

// --- the tests --------------------------------------------------------------------------

describe('signing in through an OpenID Connect provider', () => {
  it('lists the configured providers', async () => {
    const res = await t.gql('query { authProviders }');
    expect(res.data?.authProviders).toEqual(['local', 'trusted', 'down']);
  });

  it('goes start -> provider -> callback -> app with a one-time code only, which exchangeCode turns into a session', async () => {
    const alice = account('alice');
    const jar = new CookieJar();
    h.nextAccount = alice.sub;

    // The start binds the flow to this browser and sends it to the provider with PKCE, state and nonce.
    const start = await get(jar, startUrl(t, 'local', appUrl));
    await start.body?.cancel();
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    expect(authorize.origin).toBe(h.issuer);
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: h.clientId,
      redirect_uri: `${gatewayOrigin}/auth/local/callback`,
      code_challenge_method: 'S256',
    });
    for (const p of ['state', 'nonce', 'code_challenge']) expect(authorize.searchParams.get(p)).toMatch(/^[\w-]{43}$/);
    const [setCookie] = start.headers.getSetCookie();
    expect(setCookie).toMatch(/^authgate_oidc_[0-9a-f]{16}=[\w-]{43}; /);
    expect(setCookie).toContain('Path=/auth/local/callback');
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Lax');

    const interactionsBefore = h.interactions;
    const landing = await signInThrough(h, t, { account: alice.sub, cookieJar: jar, url: authorize.toString() });
    expect(h.interactions).toBe(interactionsBefore + 1);
    expect(landing.url.origin + landing.url.pathname).toBe(appUrl);
    // Only the one-time code travels in the URL: no provider or gateway token.
    expect([...landing.url.searchParams.keys()]).toEqual(['code']);
    // The callback cleared the state cookie.
    expect(jar.names(gatewayOrigin).filter((n) => n.startsWith('authgate_oidc_'))).toEqual([]);
    // It is stored hashed.
    const code = landing.code!;
    const stored =
      await t.admin`select code_hash from auth.auth_codes where code_hash in (${code}, ${sha256hex(code)})`;
    expect(stored.map((r) => r.code_hash)).toEqual([sha256hex(code)]);

    const usersBefore = await userCount();
    const session = await exchanged(code);
    expect(await userCount()).toBe(usersBefore + 1);
    expect(session.accessToken.split('.')).toHaveLength(3);
    expect([session.accessToken, session.refreshToken]).not.toContain(code);
    expect(session.refreshToken.length).toBeGreaterThan(20);
    const me = await t.gql(ME, {}, session.accessToken);
    expect(me.errors).toBeUndefined();
    expect(me.data?.me).toMatchObject({ id: session.userId, email: alice.email, role: 'authenticated' });
    expect(me.data?.me.appMetadata).toMatchObject({ provider: 'local', providers: ['local'] });
    expect(me.data?.me.profile).toMatchObject({ id: session.userId });
    const ids = await identities(session.accessToken);
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatchObject({ provider: 'local', providerUserId: alice.sub, email: alice.email });

    // Again, from another browser: the same user, no new row.
    const again = await providerSession(alice);
    expect(again.userId).toBe(session.userId);
    expect(await userCount()).toBe(usersBefore + 1);
    expect(await identities(again.accessToken)).toHaveLength(1);
  });

  it("keeps the provider's claims with the identity, userinfo's included", async () => {
    // In the code flow oidc-provider leaves scope claims (email, name) out of the ID token and
    // serves them at userinfo: without the gateway's userinfo call there would be no email.
    const bob = account('bob');
    const s = await providerSession(bob);
    const [row] = await t.admin`select identity_data from auth.identities where user_id = ${s.userId}`;
    expect(row?.identity_data).toMatchObject({
      iss: h.issuer,
      sub: bob.sub,
      email: bob.email,
      email_verified: true,
      name: bob.name,
    });
  });
});

describe("the provider's answer", () => {
  /** A sign-in whose provider URL the browser changes before following it. */
  async function tampered(change: (authorize: URL) => void): Promise<Landing> {
    const a = account('tamper');
    const jar = new CookieJar();
    const start = await get(jar, startUrl(t, 'local', appUrl));
    await start.body?.cancel();
    const authorize = new URL(start.headers.get('location')!);
    change(authorize);
    return signInThrough(h, t, { account: a.sub, cookieJar: jar, url: authorize.toString() });
  }

  it('is refused when the ID token carries another nonce', async () => {
    const landing = await tampered((u) => u.searchParams.set('nonce', randomBytes(32).toString('base64url')));
    expect(landing.error).toBe('server_error');
    expect(landing.code).toBeNull();
  });

  it("is refused when the code was not issued for the gateway's PKCE challenge", async () => {
    const landing = await tampered((u) => u.searchParams.set('code_challenge', pkcePair().challenge));
    expect(landing.error).toBe('server_error');
    expect(landing.code).toBeNull();
  });

  it('is bound to the provider entry that started it', async () => {
    const jar = new CookieJar();
    h.nextAccount = account('entry').sub;
    const end = await browse(jar, startUrl(t, 'local', appUrl), (u) =>
      u.href.startsWith(`${gatewayOrigin}/auth/local/callback?`),
    );
    if (!('at' in end)) throw new Error(`stopped at ${end.page.pathname}: ${end.status}`);
    const elsewhere = new URL(end.at);
    elsewhere.pathname = '/auth/trusted/callback';
    const cookie = jar.header(end.at)!;
    const res = await fetch(elsewhere, { redirect: 'manual', headers: { cookie } });
    expect(res.status).toBe(400);
    await res.body?.cancel();
  });
});

describe('the one-time code', () => {
  it('works once: a second exchange is INVALID_CODE', async () => {
    const code = await codeFor(account('once').sub);
    await exchanged(code);
    const res = await exchange(code);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(reasonOf(res)).toBe('INVALID_CODE');
  });

  it('expires', async () => {
    const usersBefore = await userCount();
    const code = await codeFor(account('late').sub);
    const updated = await t.admin`
      update auth.auth_codes set expires_at = now() - interval '1 second' where code_hash = ${sha256hex(code)}`;
    expect(updated.count).toBe(1);
    const res = await exchange(code);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(reasonOf(res)).toBe('INVALID_CODE');
    expect(await userCount()).toBe(usersBefore);
  });

  it('is refused when it is not one', async () => {
    for (const code of ['', 'x', randomBytes(32).toString('base64url')]) {
      const res = await exchange(code);
      expect(reasonOf(res)).toBe('INVALID_CODE');
    }
  });
});

describe('PKCE between the app and the gateway', () => {
  it('needs the verifier of the challenge given at start; a failed exchange spends the code', async () => {
    const a = account('pkce');
    const { verifier, challenge } = pkcePair();

    const first = await codeFor(a.sub, { codeChallenge: challenge });
    const none = await exchange(first);
    expect(codeOf(none)).toBe('BAD_USER_INPUT');
    expect(reasonOf(none)).toBe('INVALID_CODE');
    // The failure spent it: the right verifier is too late now.
    expect(reasonOf(await exchange(first, verifier))).toBe('INVALID_CODE');

    const second = await codeFor(a.sub, { codeChallenge: challenge });
    const wrong = await exchange(second, pkcePair().verifier);
    expect(reasonOf(wrong)).toBe('INVALID_CODE');
    expect(reasonOf(await exchange(second, verifier))).toBe('INVALID_CODE');

    const third = await codeFor(a.sub, { codeChallenge: challenge });
    const ok = await exchanged(third, verifier);
    const ids = await identities(ok.accessToken);
    expect(ids.map((i) => i.providerUserId)).toEqual([a.sub]);
  });

  it('refuses a challenge that is not S256', async () => {
    const u = new URL(startUrl(t, 'local', appUrl, pkcePair().challenge));
    u.searchParams.set('code_challenge_method', 'plain');
    const res = await get(null, u);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect((await res.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('login CSRF', () => {
  const atCallback = (u: URL) => u.origin === gatewayOrigin && u.pathname === '/auth/local/callback';

  it('refuses the callback in a browser that did not start the sign-in', async () => {
    const attacker = account('mallory');
    const jar = new CookieJar();
    h.nextAccount = attacker.sub;
    const end = await browse(jar, startUrl(t, 'local', appUrl), atCallback);
    if (!('at' in end)) throw new Error(`stopped at ${end.page.pathname}: ${end.status}`);
    expect(end.at.searchParams.get('code')).toBeTruthy();

    // The victim's browser has no start cookie.
    const victim = await get(new CookieJar(), end.at);
    expect(victim.status).toBe(400);
    expect(victim.headers.get('location')).toBeNull();
    expect((await victim.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');

    // The state is gone with the refusal: not even the starting browser can finish it now.
    const replay = await get(jar, end.at);
    expect(replay.status).toBe(400);
    expect(replay.headers.get('location')).toBeNull();
    await replay.body?.cancel();
  });

  it('finishes a state once: the same callback replayed, cookie and all, is refused', async () => {
    const a = account('replay');
    const jar = new CookieJar();
    h.nextAccount = a.sub;
    const end = await browse(jar, startUrl(t, 'local', appUrl), atCallback);
    if (!('at' in end)) throw new Error(`stopped at ${end.page.pathname}: ${end.status}`);
    const cookie = jar.header(end.at)!;
    expect(cookie).toMatch(/^authgate_oidc_/);

    const first = await fetch(end.at, { redirect: 'manual', headers: { cookie } });
    await first.body?.cancel();
    expect(first.status).toBe(302);
    expect(new URL(first.headers.get('location')!).searchParams.get('code')).toBeTruthy();

    const second = await fetch(end.at, { redirect: 'manual', headers: { cookie } });
    expect(second.status).toBe(400);
    expect(second.headers.get('location')).toBeNull();
    expect((await second.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('keeps two sign-ins started in one browser apart, finished in either order', async () => {
    const a = account('tabs');
    const jar = new CookieJar();
    const starts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await get(jar, startUrl(t, 'local', appUrl));
      await res.body?.cancel();
      starts.push(res.headers.get('location')!);
    }
    expect(jar.names(gatewayOrigin)).toHaveLength(2);
    // The second tab finishes first; the first then rides on the provider's session.
    const later = await signInThrough(h, t, { account: a.sub, cookieJar: jar, url: starts[1] });
    const earlier = await signInThrough(h, t, { account: a.sub, cookieJar: jar, url: starts[0] });
    expect(jar.names(gatewayOrigin)).toEqual([]);
    const [x, y] = [await exchanged(earlier.code!), await exchanged(later.code!)];
    expect(x.userId).toBe(y.userId);
  });

  it('refuses a callback with a state it never issued', async () => {
    const u = new URL(`${gatewayOrigin}/auth/local/callback`);
    u.searchParams.set('state', randomBytes(32).toString('base64url'));
    u.searchParams.set('code', 'whatever');
    const res = await get(null, u);
    expect(res.status).toBe(400);
    await res.body?.cancel();
  });
});

describe('the start', () => {
  it('refuses a redirect_to outside OIDC_REDIRECT_URLS without redirecting', async () => {
    for (const target of [
      'http://evil.example/app/signed-in',
      new URL('/elsewhere', appUrl).toString(),
      `${appUrl}#fragment`,
      `${appUrl}-evil`,
      `${gatewayOrigin}/`,
    ]) {
      const res = await get(null, startUrl(t, 'local', target));
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.getSetCookie()).toEqual([]);
      expect((await res.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
  });

  it('refuses an unknown provider', async () => {
    const start = await get(null, startUrl(t, 'nosuch', appUrl));
    expect(start.status).toBe(400);
    expect(start.headers.get('location')).toBeNull();
    expect((await start.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const link = await t.gql(LINK, { provider: 'nosuch', redirectTo: appUrl }, (await signUp(t)).accessToken);
    expect(codeOf(link)).toBe('BAD_USER_INPUT');
  });

  it('answers 503 SERVICE_UNAVAILABLE, not a provider failure, when its own database is away', async () => {
    const port = await freePort();
    const lonely = await startGateway(
      {
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        OIDC_PROVIDERS: JSON.stringify([
          { name: 'local', issuer: h.issuer, clientId: h.clientId, clientSecret: h.clientSecret },
        ]),
        OIDC_REDIRECT_URLS: appUrl,
        RATE_LIMIT_TOKEN_IP_MAX: '100',
        DB_ACQUIRE_TIMEOUT_MS: '200',
      },
      { port },
    );
    try {
      await lonely.gateway.pools.close();
      const res = await get(null, startUrl(lonely, 'local', appUrl));
      expect(res.status).toBe(503);
      expect(res.headers.get('location')).toBeNull();
      expect((await res.json()).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await lonely.close();
    }
  });

  it('answers 502 without a redirect or a cookie when the provider cannot be reached', async () => {
    const res = await get(null, startUrl(t, 'down', appUrl));
    expect(res.status).toBe(502);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.getSetCookie()).toEqual([]);
    expect((await res.json()).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('defaults redirect_to to the first OIDC_REDIRECT_URLS entry', async () => {
    const landing = await signInThrough(h, t, {
      account: account('default').sub,
      url: startUrl(t, 'local', null),
    });
    expect(landing.url.origin + landing.url.pathname).toBe(appUrl);
    expect(landing.code).toBeTruthy();
  });
});

describe('a provider that does not sign the user in', () => {
  it('sends the browser back to the app with error=access_denied and no code', async () => {
    const [before] = await t.admin`select count(*)::int as n from auth.auth_codes`;
    const landing = await signInThrough(h, t, { account: null });
    expect(landing.url.origin + landing.url.pathname).toBe(appUrl);
    expect(landing.error).toBe('access_denied');
    expect(landing.code).toBeNull();
    const [after] = await t.admin`select count(*)::int as n from auth.auth_codes`;
    expect(after?.n).toBe(before?.n);
  });
});

describe('an email that already has an account', () => {
  it('is EMAIL_TAKEN from an untrusted provider, and links from a trusted one when verified', async () => {
    const dana = account('dana');
    const password: Session = await signUp(t, undefined, dana.email);
    const usersBefore = await userCount();

    const refused = await exchange(await codeFor(dana.sub, { provider: 'local' }));
    expect(codeOf(refused)).toBe('EMAIL_TAKEN');
    expect(await userCount()).toBe(usersBefore);
    // The password account is as it was.
    const signIn = await t.gql(SIGN_IN, { input: { email: dana.email, password: PASSWORD } });
    expect(signIn.errors).toBeUndefined();
    expect(signIn.data?.signIn.user.id).toBe(password.userId);
    expect((await identities(password.accessToken)).map((i) => i.provider)).toEqual(['email']);
    const [none] = await t.admin`select count(*)::int as n from auth.identities where provider_id = ${dana.sub}`;
    expect(none?.n).toBe(0);

    // A provider the operator trusts with emails, into an account whose address nobody
    // ever proved: that is the address's first proof, and the account goes to the prover
    // alone. Whoever signed up with the address first loses the password and sessions.
    const proven = await providerSession(dana, 'trusted');
    expect(proven.userId).toBe(password.userId);
    expect(await userCount()).toBe(usersBefore);
    const stale = await t.gql(SIGN_IN, { input: { email: dana.email, password: PASSWORD } });
    expect(codeOf(stale)).toBe('INVALID_CREDENTIALS');
    expect(codeOf(await t.gql(ME, {}, password.accessToken))).toBe('UNAUTHENTICATED');
    const ids = await identities(proven.accessToken);
    expect(ids.map((i) => [i.provider, i.providerUserId])).toEqual([
      ['email', password.userId],
      ['trusted', dana.sub],
    ]);
    const me = await t.gql('query { me { email emailConfirmedAt appMetadata } }', {}, proven.accessToken);
    expect(me.data?.me.appMetadata.providers.sort()).toEqual(['email', 'trusted']);
    expect(me.data?.me.email).toBe(dana.email);
    expect(me.data?.me.emailConfirmedAt).not.toBeNull();
  });

  it('links a trusted provider into an account whose address was already proven, keeping its password', async () => {
    const fay = account('fay');
    const password: Session = await signUp(t, undefined, fay.email);
    await t.admin`update auth.users set email_confirmed_at = now() where id = ${password.userId}`;
    const linked = await providerSession(fay, 'trusted');
    expect(linked.userId).toBe(password.userId);
    const signIn = await t.gql(SIGN_IN, { input: { email: fay.email, password: PASSWORD } });
    expect(signIn.data?.signIn.user.id).toBe(password.userId);
    expect((await t.gql(ME, {}, password.accessToken)).data?.me.id).toBe(password.userId);
    const ids = await identities(linked.accessToken);
    expect(ids.map((i) => [i.provider, i.providerUserId])).toEqual([
      ['email', password.userId],
      ['trusted', fay.sub],
    ]);
  });

  it('is not merged on an unverified email, even by a trusted provider', async () => {
    const erin = account('erin', { email_verified: false });
    const password = await signUp(t, undefined, erin.email);
    const refused = await exchange(await codeFor(erin.sub, { provider: 'trusted' }));
    expect(codeOf(refused)).toBe('EMAIL_TAKEN');
    expect((await identities(password.accessToken)).map((i) => i.provider)).toEqual(['email']);
  });

  it('matches case-insensitively', async () => {
    const fay = account('fay');
    await signUp(t, undefined, fay.email);
    fay.email = fay.email!.toUpperCase();
    const refused = await exchange(await codeFor(fay.sub));
    expect(codeOf(refused)).toBe('EMAIL_TAKEN');
  });
});

describe('an unverified provider email', () => {
  it('is kept with the identity but is not the account email, and does not hold the address', async () => {
    const gil = account('gil', { email_verified: false });
    const s = await providerSession(gil);
    const me = await t.gql(ME, {}, s.accessToken);
    expect(me.data?.me.email).toBe('');
    const ids = await identities(s.accessToken);
    expect(ids[0]).toMatchObject({ provider: 'local', providerUserId: gil.sub, email: gil.email });
    // The real owner of the address can still sign up with it.
    const owner = await signUp(t, undefined, gil.email);
    expect(owner.userId).not.toBe(s.userId);
  });
});

describe('linking a provider to a signed-in user', () => {
  /** linkIdentity as `token`, then the provider in a fresh browser: the app's landing. */
  async function linkThrough(token: string, a: ProviderAccount, codeChallenge?: string): Promise<Landing> {
    const res = await t.gql(LINK, { provider: 'local', redirectTo: appUrl, codeChallenge }, token);
    expect(res.errors).toBeUndefined();
    expect(res.data?.linkIdentity.provider).toBe('local');
    const url = res.data!.linkIdentity.url as string;
    expect(new URL(url).origin).toBe(h.issuer);
    // No start cookie: the browser goes straight to the provider.
    return signInThrough(h, t, { account: a.sub, url });
  }

  it('completes only with the bearer of the user who started it; unlink keeps the last identity', async () => {
    const owner = await signUp(t);
    const other = await signUp(t);
    const hal = account('hal');

    expect(codeOf(await t.gql(LINK, { provider: 'local', redirectTo: appUrl }))).toBe('UNAUTHENTICATED');

    const anonymous = await linkThrough(owner.accessToken, hal);
    expect([...anonymous.url.searchParams.keys()]).toEqual(['code']);
    expect(codeOf(await exchange(anonymous.code!))).toBe('FORBIDDEN');
    // Spent by the refusal.
    expect(reasonOf(await exchange(anonymous.code!, undefined, owner.accessToken))).toBe('INVALID_CODE');

    const stranger = await linkThrough(owner.accessToken, hal);
    expect(codeOf(await exchange(stranger.code!, undefined, other.accessToken))).toBe('FORBIDDEN');
    expect((await identities(other.accessToken)).map((i) => i.provider)).toEqual(['email']);
    expect((await identities(owner.accessToken)).map((i) => i.provider)).toEqual(['email']);

    const usersBefore = await userCount();
    const linked = await exchanged((await linkThrough(owner.accessToken, hal)).code!, undefined, owner.accessToken);
    expect(linked.userId).toBe(owner.userId);
    expect(await userCount()).toBe(usersBefore);
    const ids = await identities(owner.accessToken);
    expect(ids.map((i) => [i.provider, i.providerUserId])).toEqual([
      ['email', owner.userId],
      ['local', hal.sub],
    ]);

    // Signing in through the provider now reaches the same account.
    expect((await providerSession(hal)).userId).toBe(owner.userId);

    const local = ids.find((i) => i.provider === 'local')!;
    const emailIdentity = ids.find((i) => i.provider === 'email')!;
    // Not someone else's.
    expect((await t.gql(UNLINK, { id: local.id }, other.accessToken)).data?.unlinkIdentity).toBe(false);
    expect((await t.gql(UNLINK, { id: local.id }, owner.accessToken)).data?.unlinkIdentity).toBe(true);
    expect((await identities(owner.accessToken)).map((i) => i.provider)).toEqual(['email']);
    const last = await t.gql(UNLINK, { id: emailIdentity.id }, owner.accessToken);
    expect(codeOf(last)).toBe('FORBIDDEN');
    expect(reasonOf(last)).toBe('LAST_IDENTITY');
    // The password still works.
    const signIn = await t.gql(SIGN_IN, { input: { email: owner.email, password: PASSWORD } });
    expect(signIn.data?.signIn.user.id).toBe(owner.userId);
    // The audit log: the link (with its sign-in), the provider sign-in, the one unlink; the
    // refused attempts changed nothing and left no row.
    const audit = await t.admin<{ event: string; detail: Record<string, unknown> }[]>`
      select event, detail from auth.audit_log where user_id = ${owner.userId} order by created_at, id`;
    expect(audit.map((r) => [r.event, r.detail.method ?? null, r.detail.provider ?? null])).toEqual([
      ['user.signed_up', 'password', null],
      ['identity.linked', 'oauth', 'local'],
      ['user.signed_in', 'oauth', null],
      ['user.signed_in', 'oauth', null],
      ['identity.unlinked', null, 'local'],
      ['user.signed_in', 'password', null],
    ]);
  });

  it('honours a PKCE challenge given to linkIdentity', async () => {
    const owner = await signUp(t);
    const ivy = account('ivy');
    const { verifier, challenge } = pkcePair();
    const bare = await linkThrough(owner.accessToken, ivy, challenge);
    expect(reasonOf(await exchange(bare.code!, undefined, owner.accessToken))).toBe('INVALID_CODE');
    const ok = await linkThrough(owner.accessToken, ivy, challenge);
    expect((await exchanged(ok.code!, verifier, owner.accessToken)).userId).toBe(owner.userId);
  });

  it('refuses an identity that already belongs to another user', async () => {
    const jay = account('jay');
    const jays = await providerSession(jay);
    const owner = await signUp(t);
    const landing = await linkThrough(owner.accessToken, jay);
    const res = await exchange(landing.code!, undefined, owner.accessToken);
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(reasonOf(res)).toBe('IDENTITY_ALREADY_LINKED');
    expect((await identities(owner.accessToken)).map((i) => i.provider)).toEqual(['email']);
    expect((await identities(jays.accessToken)).map((i) => i.providerUserId)).toEqual([jay.sub]);
  });
});

describe('row level security', () => {
  it('applies to a provider-signed-in user as to a native one', async () => {
    const kim = await providerSession(account('kim'));
    const other = await signUp(t);
    const PROFILES = 'query { profiles(first: 100) { edges { node { id isPublic } } } }';
    const ids = async (token: string) => {
      const res = await t.gql(PROFILES, {}, token);
      expect(res.errors).toBeUndefined();
      return (res.data!.profiles.edges as Array<{ node: { id: string } }>).map((e) => e.node.id);
    };
    const PROFILE = 'query P($id: ID!) { profile(id: $id) { id isPublic } }';

    expect(await ids(other.accessToken)).toContain(kim.userId);
    const priv = await t.gql(
      'mutation { updateProfile(input: { isPublic: false }) { id isPublic } }',
      {},
      kim.accessToken,
    );
    expect(priv.errors).toBeUndefined();
    expect(priv.data?.updateProfile).toEqual({ id: kim.userId, isPublic: false });

    expect(await ids(other.accessToken)).not.toContain(kim.userId);
    expect((await t.gql(PROFILE, { id: kim.userId }, other.accessToken)).data?.profile).toBeNull();
    expect(await ids(kim.accessToken)).toContain(kim.userId);
    expect((await t.gql(PROFILE, { id: kim.userId }, kim.accessToken)).data?.profile).toEqual({
      id: kim.userId,
      isPublic: false,
    });
  });
});

function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
