import { createServer } from 'node:http';
import { decodeJwt } from 'jose';
import type { CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/shared/ports.js';
import { type BrowserPage, chromiumFor, openPage } from '../browser.js';
import { codeOf, email, PASSWORD, signUp, startGateway, type TestGateway } from '../helpers.js';

/**
 * Passkeys as a person's browser makes and uses them: headless Chromium with a virtual
 * authenticator (CDP WebAuthn domain: a platform authenticator with resident keys and user
 * verification), on http://localhost:<port> (a secure context; 127.0.0.1 is not one for
 * WebAuthn's RP ID). The page is the gateway's own origin; the test's script calls /graphql
 * and navigator.credentials in it, as an app's page would.
 */

const CHROMIUM = chromiumFor('passkeys in a browser');

const REG_OPTIONS = 'mutation { passkeyRegistrationOptions }';
const REGISTER =
  'mutation R($r: JSON!, $n: String) { registerPasskey(response: $r, name: $n) { passkey { id name } recoveryCodes } }';
const SIGNIN_OPTIONS = 'mutation { passkeySignInOptions { flowId options } }';
const SIGNIN =
  'mutation S($f: ID!, $r: JSON!) { signInWithPasskey(flowId: $f, response: $r) { accessToken refreshToken aal mfaRequired user { id } } }';
const VERIFY_OPTIONS = 'mutation { passkeyVerifyOptions }';
const VERIFY = 'mutation V($r: JSON!) { verifyPasskey(response: $r) { accessToken aal mfaRequired } }';

type Gql = { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };

/** Defines window.__pk in the page: /graphql over fetch, and the two WebAuthn ceremonies. */
async function install(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as Record<string, unknown>;
    w.__pk = {
      gql: async (query: string, variables?: Record<string, unknown>, token?: string) => {
        const res = await fetch('/graphql', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-graphql-yoga-csrf': '1',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ query, variables }),
        });
        return res.json();
      },
      create: async (options: unknown) => {
        const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options as never);
        const cred = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential;
        return cred.toJSON();
      },
      get: async (options: unknown) => {
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options as never);
        const cred = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential;
        return cred.toJSON();
      },
    };
  });
}

type Pk = {
  gql: (q: string, v?: Record<string, unknown>, token?: string) => Promise<Gql>;
  create: (o: unknown) => Promise<unknown>;
  get: (o: unknown) => Promise<unknown>;
};

/** Registers a passkey for the holder of `token` in the page: options, create, registerPasskey. */
async function registerIn(page: Page, token: string, name: string): Promise<Gql> {
  return page.evaluate(
    async ({ token, name, q }) => {
      const p = (window as unknown as { __pk: Pk }).__pk;
      const opts = await p.gql(q.options, {}, token);
      if (opts.errors) return opts;
      const response = await p.create(opts.data!.passkeyRegistrationOptions);
      return p.gql(q.register, { r: response, n: name }, token);
    },
    { token, name, q: { options: REG_OPTIONS, register: REGISTER } },
  );
}

/** A passkey sign-in in the page; returns the answer and what was sent, for replaying it. */
async function signInIn(page: Page): Promise<{ res: Gql; flowId: string; response: unknown }> {
  return page.evaluate(
    async (q) => {
      const p = (window as unknown as { __pk: Pk }).__pk;
      const opts = await p.gql(q.options);
      const { flowId, options } = opts.data!.passkeySignInOptions;
      const response = await p.get(options);
      return { res: await p.gql(q.signIn, { f: flowId, r: response }), flowId, response };
    },
    { options: SIGNIN_OPTIONS, signIn: SIGNIN },
  );
}

/**
 * A virtual platform authenticator (resident keys, user verification that succeeds) in place
 * of the page's earlier one: each test's discoverable sign-in finds its own passkey alone.
 */
let current: { cdp: CDPSession; id: string } | null = null;
async function authenticator(page: Page): Promise<void> {
  const cdp = current?.cdp ?? (await page.context().newCDPSession(page));
  if (current) await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: current.id });
  else await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
  current = { cdp, id: authenticatorId };
}

/** A gateway on http://localhost:<port> with `env` (PUBLIC_URL set to it), and Chromium on its root page. */
async function gatewayAndPage(env: Record<string, string>): Promise<{ t: TestGateway; b: BrowserPage }> {
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const t = await startGateway({ PUBLIC_URL: base, ...env }, { port });
  const b = await openPage(CHROMIUM!, base);
  await b.page.goto(`${base}/`, { waitUntil: 'load' });
  await install(b.page);
  current = null;
  return { t, b };
}

/** Closes what gatewayAndPage opened. */
async function closeBoth(t: TestGateway | undefined, b: BrowserPage | undefined): Promise<void> {
  current = null;
  await b?.close();
  await t?.close();
}

describe.skipIf(!CHROMIUM)('passkeys in headless Chromium with a virtual authenticator', () => {
  let t: TestGateway;
  let b: BrowserPage;

  beforeAll(async () => {
    // PUBLIC_URL alone: RP ID localhost and the one origin, the defaults a developer gets.
    ({ t, b } = await gatewayAndPage({}));
  });
  beforeEach(() => authenticator(b.page));
  afterAll(() => closeBoth(t, b));

  it('registers a passkey, signs in with it alone at aal2, and refuses the same assertion twice', async () => {
    const user = await signUp(t, undefined, email('pkbrowser'));
    const reg = await registerIn(b.page, user.accessToken, 'Laptop');
    expect(reg.errors).toBeUndefined();
    expect(reg.data?.registerPasskey.passkey.name).toBe('Laptop');
    // The user's first factor: ten recovery codes, as with a first TOTP factor.
    expect(reg.data?.registerPasskey.recoveryCodes).toHaveLength(10);
    const [row] = await t.admin`select user_id from auth.passkeys where id = ${reg.data!.registerPasskey.passkey.id}`;
    expect(row?.user_id).toBe(user.userId);

    const { res, flowId, response } = await signInIn(b.page);
    expect(res.errors).toBeUndefined();
    const payload = res.data!.signInWithPasskey;
    expect(payload.user.id).toBe(user.userId);
    expect(payload.aal).toBe('aal2');
    expect(payload.mfaRequired).toBe(false);
    const claims = decodeJwt(payload.accessToken);
    expect(claims.aal).toBe('aal2');
    expect((claims.amr as { method: string }[]).map((a) => a.method)).toEqual(['passkey']);
    const [session] = await t.admin`select aal from auth.sessions where id = ${claims.session_id as string}`;
    expect(session?.aal).toBe('aal2');
    // The tokens work: the session is ours and live.
    const me = await t.gql('query { me { id } }', {}, payload.accessToken);
    expect(me.data?.me.id).toBe(user.userId);
    // Its refresh token carries the session on at aal2.
    const refreshed = await t.gql('mutation R($r: String!) { refresh(refreshToken: $r) { accessToken aal } }', {
      r: payload.refreshToken,
    });
    expect(refreshed.data?.refresh.aal).toBe('aal2');

    // The same assertion again, same flow: the challenge was taken.
    const again = await t.gql(SIGNIN, { f: flowId, r: response });
    expect(codeOf(again)).toBe('BAD_USER_INPUT');
    expect(again.errors?.[0]?.extensions?.reason).toBe('CHALLENGE_EXPIRED');
    // The same assertion for a fresh flow: it signed another challenge.
    const fresh = await t.gql(SIGNIN_OPTIONS);
    const replay = await t.gql(SIGNIN, { f: fresh.data!.passkeySignInOptions.flowId, r: response });
    expect(codeOf(replay)).toBe('INVALID_CREDENTIALS');
    expect(replay.errors?.[0]?.extensions?.reason).toBe('PASSKEY_INVALID');
    expect(replay.data?.signInWithPasskey ?? null).toBeNull();
  });

  it('steps a password session (aal1, mfaRequired) up to aal2 with a passkey as the second factor', async () => {
    const user = await signUp(t, undefined, email('pkstepup'));
    expect((await registerIn(b.page, user.accessToken, 'Phone')).errors).toBeUndefined();

    const signedIn = await t.gql(
      `mutation S($input: SignInInput!) { signIn(input: $input) { accessToken aal mfaRequired } }`,
      {
        input: { email: user.email, password: PASSWORD },
      },
    );
    expect(signedIn.data?.signIn.aal).toBe('aal1');
    // A passkey is a factor: the password session is asked for it.
    expect(signedIn.data?.signIn.mfaRequired).toBe(true);
    const aal1 = signedIn.data!.signIn.accessToken as string;

    // A passkey cannot be added from the aal1 session once the user has one.
    const planted = await t.gql(REG_OPTIONS, {}, aal1);
    expect(planted.errors?.[0]?.extensions?.reason).toBe('AAL2_REQUIRED');

    const stepped = await b.page.evaluate(
      async ({ token, q }) => {
        const p = (window as unknown as { __pk: Pk }).__pk;
        const opts = await p.gql(q.options, {}, token);
        if (opts.errors) return opts;
        const response = await p.get(opts.data!.passkeyVerifyOptions);
        return p.gql(q.verify, { r: response }, token);
      },
      { token: aal1, q: { options: VERIFY_OPTIONS, verify: VERIFY } },
    );
    expect(stepped.errors).toBeUndefined();
    expect(stepped.data?.verifyPasskey.aal).toBe('aal2');
    const claims = decodeJwt(stepped.data!.verifyPasskey.accessToken);
    expect((claims.amr as { method: string }[]).map((a) => a.method).sort()).toEqual(['passkey', 'password']);
    expect(claims.session_id).toBe(decodeJwt(aal1).session_id);
    // Both steps are in the audit log, by the user, with the passkey's id and nothing of its key.
    const audit = await t.admin<{ event: string; actor_kind: string; detail: Record<string, unknown> }[]>`
      select event, actor_kind, detail from auth.audit_log
      where user_id = ${user.userId} and event in ('passkey.registered', 'mfa.challenge_verified')
      order by created_at`;
    expect(audit.map((a) => [a.event, a.actor_kind, a.detail.factorType ?? a.detail.method])).toEqual([
      ['passkey.registered', 'user', 'passkey'],
      ['mfa.challenge_verified', 'user', 'passkey'],
    ]);
  });

  it('refuses a sign-in and a step-up from an origin WEBAUTHN_ORIGINS does not list', async () => {
    const user = await signUp(t, undefined, email('pkelsewhere'));
    expect((await registerIn(b.page, user.accessToken, 'Key')).errors).toBeUndefined();
    const home = b.page.url();
    // A look-alike page on the same RP ID (localhost) but another origin (port): the browser
    // lets it use the passkey, and its origin is in what the authenticator signs.
    const elsewhere = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>');
    });
    const port = await freePort();
    await new Promise<void>((resolve) => elsewhere.listen(port, '127.0.0.1', resolve));
    const getThere = (options: unknown) =>
      b.page.evaluate(async (o) => (window as unknown as { __pk: Pk }).__pk.get(o), options);
    try {
      await b.page.goto(`http://localhost:${port}/`, { waitUntil: 'load' });
      await install(b.page);
      const { flowId, options } = (await t.gql(SIGNIN_OPTIONS)).data!.passkeySignInOptions;
      const signIn = await t.gql(SIGNIN, { f: flowId, r: await getThere(options) });
      expect([codeOf(signIn), signIn.errors?.[0]?.extensions?.reason]).toEqual([
        'INVALID_CREDENTIALS',
        'PASSKEY_INVALID',
      ]);

      const aal1 = (
        await t.gql('mutation S($input: SignInInput!) { signIn(input: $input) { accessToken } }', {
          input: { email: user.email, password: PASSWORD },
        })
      ).data!.signIn.accessToken as string;
      const stepOptions = (await t.gql(VERIFY_OPTIONS, {}, aal1)).data!.passkeyVerifyOptions;
      const stepped = await t.gql(VERIFY, { r: await getThere(stepOptions) }, aal1);
      expect([codeOf(stepped), stepped.errors?.[0]?.extensions?.reason]).toEqual([
        'INVALID_CREDENTIALS',
        'PASSKEY_INVALID',
      ]);
      const [session] = await t.admin`select aal from auth.sessions where id = ${decodeJwt(aal1).session_id as string}`;
      expect(session?.aal).toBe('aal1');
    } finally {
      await b.page.goto(home, { waitUntil: 'load' });
      await install(b.page);
      await new Promise((resolve) => elsewhere.close(resolve));
    }
  });

  it('refuses an assertion whose counter went back (a cloned authenticator)', async () => {
    const user = await signUp(t, undefined, email('pkcounter'));
    expect((await registerIn(b.page, user.accessToken, 'Key')).errors).toBeUndefined();
    const first = await signInIn(b.page);
    expect(first.res.errors).toBeUndefined();
    expect(first.res.data?.signInWithPasskey.user.id).toBe(user.userId);
    const [row] = await t.admin`select counter from auth.passkeys where user_id = ${user.userId}`;
    // The virtual authenticator keeps a counter: it went up with the sign-in.
    expect(Number(row?.counter)).toBeGreaterThan(0);
    await t.admin`update auth.passkeys set counter = counter + 1000 where user_id = ${user.userId}`;
    const second = await signInIn(b.page);
    expect(second.res.errors?.[0]?.extensions?.reason).toBe('PASSKEY_INVALID');
  });
});

describe.skipIf(!CHROMIUM)('passkeys from an origin WEBAUTHN_ORIGINS does not list', () => {
  let t: TestGateway;
  let b: BrowserPage;

  beforeAll(async () => {
    // The page is http://localhost:<port>; the gateway accepts only another origin of its RP ID.
    ({ t, b } = await gatewayAndPage({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: 'https://app.localhost' }));
    await authenticator(b.page);
  });
  afterAll(() => closeBoth(t, b));

  it('refuses the registration with PASSKEY_INVALID and stores nothing', async () => {
    const user = await signUp(t, undefined, email('pkorigin'));
    const reg = await registerIn(b.page, user.accessToken, 'Elsewhere');
    expect(codeOf(reg as never)).toBe('BAD_USER_INPUT');
    expect(reg.errors?.[0]?.extensions?.reason).toBe('PASSKEY_INVALID');
    const [n] = await t.admin`select count(*)::int as n from auth.passkeys where user_id = ${user.userId}`;
    expect(n?.n).toBe(0);
  });
});
