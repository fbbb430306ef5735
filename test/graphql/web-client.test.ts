import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type AuthChangeEvent,
  type AuthClient,
  AuthgateError,
  createAuthClient,
  DOCUMENTS,
  type Document,
  ProviderSignInError,
  type Session,
  type SessionStorage,
} from '@authgate/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ProviderHarness, startProvider } from '../../dev/oidc-provider.js';
import { email, PASSWORD, startGateway, type TestGateway } from '../helpers.js';
import { signInThrough } from '../oidc-browser.js';
import { freePort } from '../ports.js';

// examples/web-client is an app on @authgate/client (the workspace package, from its build made
// by `npm run check`): codegen's typed documents for its own operations, the package for the
// session, and a few functions of its own (src/app.ts). The example lives outside the root
// tsconfig on purpose: its src/gql/ is generated (git-ignored), so the root `tsc` must not follow
// an import into it. It is type-checked here with its own tsconfig after codegen, and its modules
// are loaded by a path tsc does not resolve.
const root = fileURLToPath(new URL('../..', import.meta.url));
const example = join(root, 'examples/web-client');
const bin = (name: string): string => join(root, 'node_modules/.bin', name);

type Run = { code: number | null; output: string };
const run = (cmd: string, args: string[], cwd: string): Promise<Run> =>
  new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
const tsc = (): Promise<Run> => run(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json'], example);

// The subset of examples/web-client/src/{documents,app}.ts this file drives; their real types are
// codegen's and the example's, checked by tsc above.
type Documents = {
  MeDocument: Document<
    { me: { id: string; email: string; role: string; profile: { fullName: string | null } | null } | null },
    Record<string, never>
  >;
  ProfilesDocument: Document<{ profiles: { edges: Array<{ node: { id: string } }> } }, { first?: number }>;
  UpdateProfileDocument: Document<
    { updateProfile: { id: string; fullName: string | null } },
    { input: { fullName?: string } }
  >;
};

type App = {
  createAppClient(url: string, options?: { trusted?: boolean }): AuthClient;
  currentUser(auth: AuthClient): Promise<{ id: string; email: string } | null>;
  finishSignIn(
    auth: AuthClient,
    landing: string | URL,
  ): Promise<{ signedIn: true; userId: string } | { signedIn: false; why: 'cancelled' | 'start-again' }>;
};

/** The package's default `storageKey`: where it keeps the session. */
const SESSION_KEY = 'authgate.session';

/**
 * A memory store the test can look into and tamper with, as a revoked or expiring token would
 * leave it. A client reads the store when it is created, so a tampered session is seen by the
 * next client made over it.
 */
function inspectable() {
  const items = new Map<string, string>();
  const storage: SessionStorage = {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => {
      items.set(key, value);
    },
    removeItem: (key) => {
      items.delete(key);
    },
  };
  const verifierKey = (): string | undefined => [...items.keys()].find((k) => k.endsWith(':pkce'));
  return {
    storage,
    session: (): Session | null => JSON.parse(items.get(SESSION_KEY) ?? 'null') as Session | null,
    patch: (change: Partial<Session>): void => {
      items.set(SESSION_KEY, JSON.stringify({ ...JSON.parse(items.get(SESSION_KEY) ?? '{}'), ...change }));
    },
    /** The PKCE verifier `providerSignInUrl` keeps for `finishProviderSignIn`. */
    verifier: (): string | null => items.get(verifierKey() ?? '') ?? null,
    replaceVerifier: (verifier: string): void => {
      items.set(verifierKey()!, verifier);
    },
  };
}

/** A fetch that records each request's operation, bearer and body, to count refreshes and retries. */
function recording() {
  const sent: Array<{ op: string; bearer: string | null; body: Record<string, unknown> }> = [];
  const record: typeof fetch = (input, init) => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    sent.push({ op: String(body.operationName), bearer: new Headers(init?.headers).get('authorization'), body });
    return fetch(input, init);
  };
  return { fetch: record, sent, refreshes: (): number => sent.filter((r) => r.op === 'Refresh').length };
}

/** Soon enough that the next request renews first (the package's margin is 30 s). */
const expiringNow = (): Partial<Session> => ({ expiresAt: new Date(Date.now() + 1000).toISOString() });

let docs: Documents;
let app: App;
let t: TestGateway;
/** A real OpenID Provider the gateway knows as "local", for the provider sign-in. */
let h: ProviderHarness;
let gatewayOrigin: string;
/** Where the app wants finished sign-ins: a port nothing listens on, never requested. */
let appUrl: string;

/** The provider first (its client needs the gateway's callback), then the gateway that uses it. */
async function startWithProvider(): Promise<TestGateway> {
  const port = await freePort();
  gatewayOrigin = `http://127.0.0.1:${port}`;
  appUrl = `http://127.0.0.1:${await freePort()}/app/signed-in`;
  h = await startProvider({ redirectUris: [`${gatewayOrigin}/auth/local/callback`] });
  return startGateway(
    {
      PUBLIC_URL: gatewayOrigin,
      OIDC_PROVIDERS: JSON.stringify([
        { name: 'local', issuer: h.issuer, clientId: h.clientId, clientSecret: h.clientSecret, timeoutMs: 5000 },
      ]),
      OIDC_REDIRECT_URLS: appUrl,
    },
    { port },
  );
}

beforeAll(async () => {
  const [codegen, gateway] = await Promise.all([
    run(bin('graphql-codegen'), ['--config', 'codegen.ts', '--silent'], example),
    startWithProvider(),
  ]);
  t = gateway;
  expect(codegen.code, codegen.output).toBe(0);
  const load = (file: string): Promise<unknown> => import(pathToFileURL(join(example, 'src', file)).href);
  docs = (await load('documents.ts')) as Documents;
  app = (await load('app.ts')) as App;
});
afterAll(async () => {
  await t?.close();
  await h?.close();
});

describe('the web-client example on @authgate/client', () => {
  it('type-checks after codegen', async () => {
    const res = await tsc();
    expect(res.code, res.output).toBe(0);
  });

  it('rejects wrongly typed variables and results at compile time', async () => {
    const file = join(example, 'src', `wrong-usage-${process.pid}.ts`);
    await writeFile(
      file,
      [
        `import { createAuthClient } from '@authgate/client';`,
        `import { MeDocument, ProfilesDocument, UpdateProfileDocument } from './documents.js';`,
        `const auth = createAuthClient({ url: 'http://localhost/graphql' });`,
        `await auth.signIn({ email: 42, password: 'x' });`,
        `await auth.request(UpdateProfileDocument);`,
        `await auth.request(ProfilesDocument, { first: 'ten' });`,
        `(await auth.request(MeDocument)).me?.nickname;`,
        `await auth.request(MeDocument, { first: 1 });`,
        `await auth.signOut('EVERYWHERE');`,
        `const { me } = await auth.request(MeDocument);`,
        `const name: string | null | undefined = me?.profile?.fullName;`,
        `await auth.request(UpdateProfileDocument, { input: { fullName: name ?? null } });`,
        '',
      ].join('\n'),
    );
    let res: Run;
    try {
      res = await tsc();
    } finally {
      await rm(file, { force: true });
    }
    expect(res.code).not.toBe(0);
    const errors = res.output.split('\n').filter((l) => l.includes('error TS'));
    // Lines 4-9 fail, each for its own reason; the correct calls on lines 10-12 do not.
    expect(errors.map((l) => /\((\d+),\d+\)/.exec(l)?.[1])).toEqual(['4', '5', '6', '7', '8', '9']);
    expect(errors[0]).toContain("Type 'number' is not assignable to type 'string'");
    expect(errors[1]).toContain('Expected 2 arguments');
    expect(errors[3]).toContain("Property 'nickname' does not exist");
    expect(errors.every((l) => l.startsWith(`src/wrong-usage-${process.pid}.ts`))).toBe(true);
  });

  describe('against a live gateway', () => {
    it('signs up, reads me with the bearer and refreshes once for concurrent requests', async () => {
      const kept = inspectable();
      const a = recording();
      const auth = createAuthClient({ url: t.url, storage: kept.storage, fetch: a.fetch });
      const mail = email('webclient');
      const session = await auth.signUp({ email: mail, password: PASSWORD, data: { username: `wc_${Date.now()}` } });
      expect(session.user.email).toBe(mail);
      expect(kept.session()).toMatchObject({ accessToken: session.accessToken, refreshToken: session.refreshToken });

      const { me } = await auth.request(docs.MeDocument);
      expect(me).toMatchObject({ id: session.user.id, email: mail, role: 'authenticated' });
      expect(a.sent.find((r) => r.op === 'Me')?.bearer).toBe(`Bearer ${session.accessToken}`);
      const { profiles } = await auth.request(docs.ProfilesDocument, { first: 5 });
      expect(profiles.edges.map((e) => e.node.id)).toContain(session.user.id);
      expect(a.refreshes()).toBe(0);

      // A token about to expire: every request of the batch waits for the one refresh.
      kept.patch(expiringNow());
      const b = recording();
      const later = createAuthClient({ url: t.url, storage: kept.storage, fetch: b.fetch });
      const results = await Promise.all(Array.from({ length: 5 }, () => later.request(docs.MeDocument)));
      for (const r of results) expect(r.me?.id).toBe(session.user.id);
      expect(b.refreshes()).toBe(1);
      const refreshed = kept.session()!;
      expect(refreshed.accessToken).not.toBe(session.accessToken);
      expect(refreshed.refreshToken).not.toBe(session.refreshToken);

      const { updateProfile } = await later.request(docs.UpdateProfileDocument, { input: { fullName: 'Web Client' } });
      expect(updateProfile).toMatchObject({ id: session.user.id, fullName: 'Web Client' });
      // The new token is good for the gateway's whole TTL: no second refresh.
      expect(b.refreshes()).toBe(1);
    });

    it('refreshes and retries once when the server refuses the access token', async () => {
      const kept = inspectable();
      const { user, refreshToken } = await createAuthClient({ url: t.url, storage: kept.storage }).signUp({
        email: email('webclient'),
        password: PASSWORD,
      });
      kept.patch({ accessToken: 'not-a-jwt' });
      const c = recording();
      const auth = createAuthClient({ url: t.url, storage: kept.storage, fetch: c.fetch });

      const results = await Promise.all(Array.from({ length: 5 }, () => auth.request(docs.MeDocument)));
      for (const r of results) expect(r.me?.id).toBe(user.id);
      expect(c.refreshes()).toBe(1);
      // Each request went out once with the refused token and once more with the new one.
      const renewed = kept.session()!;
      const me = c.sent.filter((r) => r.op === 'Me');
      expect(me.filter((r) => r.bearer === 'Bearer not-a-jwt')).toHaveLength(5);
      expect(me.filter((r) => r.bearer === `Bearer ${renewed.accessToken}`)).toHaveLength(5);
      expect(renewed.accessToken).not.toBe('not-a-jwt');
      expect(renewed.refreshToken).not.toBe(refreshToken);
    });

    it('surfaces error codes and signs out when the refresh token is no longer valid', async () => {
      const kept = inspectable();
      const auth = createAuthClient({ url: t.url, storage: kept.storage });
      const err = await auth.signIn({ email: email('nobody'), password: PASSWORD }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthgateError);
      expect(err).toMatchObject({ code: 'INVALID_CREDENTIALS' });
      expect(kept.session()).toBeNull();

      /** A client over the stored session as `change` leaves it, and the events it emits. */
      const tampered = (change: Partial<Session>) => {
        kept.patch(change);
        const events: AuthChangeEvent[] = [];
        const client = createAuthClient({ url: t.url, storage: kept.storage });
        client.onAuthStateChange((event) => events.push(event));
        return { client, events };
      };

      // A refused access token, then a refused refresh token: the session is over, and the
      // request fails with the gateway's answer to it.
      await auth.signUp({ email: email('webclient'), password: PASSWORD });
      const refused = tampered({ accessToken: 'not-a-jwt', refreshToken: 'not-a-refresh-token' });
      await expect(refused.client.request(docs.MeDocument)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(kept.session()).toBeNull();
      expect(refused.client.session).toBeNull();
      expect(refused.events.at(-1)).toBe('SIGNED_OUT');
      expect((await refused.client.request(docs.MeDocument)).me).toBeNull();

      // A refused refresh ahead of expiry: signed out before the request, which runs as nobody.
      await auth.signUp({ email: email('webclient'), password: PASSWORD });
      const expiring = tampered({ ...expiringNow(), refreshToken: 'not-a-refresh-token' });
      expect((await expiring.client.request(docs.MeDocument)).me).toBeNull();
      expect(kept.session()).toBeNull();
      expect(expiring.events.at(-1)).toBe('SIGNED_OUT');
    });

    it('signs out on the server and clears the storage', async () => {
      const kept = inspectable();
      const auth = createAuthClient({ url: t.url, storage: kept.storage });
      const mail = email('webclient');
      const { accessToken } = await auth.signUp({ email: mail, password: PASSWORD });
      expect(await auth.signOut()).toBe(true);
      expect(kept.session()).toBeNull();
      expect(auth.session).toBeNull();
      expect((await auth.request(docs.MeDocument)).me).toBeNull();
      // The old access token is refused from now on.
      const res = await t.gql('query { me { id } }', {}, accessToken);
      expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

      // Signing out still clears the storage when the server cannot be reached.
      await auth.signIn({ email: mail, password: PASSWORD });
      const offline = createAuthClient({
        url: t.url,
        storage: kept.storage,
        fetch: () => Promise.reject(new TypeError('fetch failed')),
      });
      expect(await offline.signOut()).toBe(false);
      expect(kept.session()).toBeNull();
    });

    it('registers: stores the session the gateway starts and answers the user', async () => {
      const kept = inspectable();
      const auth = createAuthClient({ url: t.url, storage: kept.storage });
      const mail = email('webclient');
      const { user, session, confirmationRequired } = await auth.register({ email: mail, password: PASSWORD });
      expect(user).toMatchObject({ id: expect.any(String), email: mail });
      // This gateway does not require confirmed emails: the account is signed in at once.
      expect(confirmationRequired).toBe(false);
      expect(kept.session()).toMatchObject({ accessToken: session?.accessToken, refreshToken: expect.any(String) });
      expect(await app.currentUser(auth)).toMatchObject({ id: user.id, email: mail });

      await expect(auth.register({ email: mail, password: PASSWORD })).rejects.toMatchObject({ code: 'EMAIL_TAKEN' });
    });

    describe('signing in with a provider (PKCE between the app and the gateway)', () => {
      /** A new person at the provider. */
      const account = (tag: string): { sub: string; email: string } => {
        const a = { sub: `${tag}-${randomBytes(6).toString('hex')}`, email: email(tag), email_verified: true };
        h.accounts.set(a.sub, a);
        return a;
      };
      const challengeOf = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');
      afterEach(() => {
        // Whatever a test provoked, the provider itself must not have failed.
        expect(h.serverErrors).toEqual([]);
      });

      it('builds the start URL with a challenge, then finishes with the stored verifier', async () => {
        const kept = inspectable();
        const auth = createAuthClient({ url: t.url, storage: kept.storage });
        const ada = account('ada');

        const start = new URL(await auth.providerSignInUrl('local', { redirectTo: appUrl }));
        expect(start.origin + start.pathname).toBe(`${gatewayOrigin}/auth/local/start`);
        const verifier = kept.verifier()!;
        expect(verifier).toMatch(/^[\w-]{43}$/);
        expect(Object.fromEntries(start.searchParams)).toEqual({
          redirect_to: appUrl,
          code_challenge: challengeOf(verifier),
          code_challenge_method: 'S256',
        });

        const landing = await signInThrough(h, t, { account: ada.sub, redirectTo: appUrl, url: start.toString() });
        expect(landing.code).toBeTruthy();
        const { user } = await auth.finishProviderSignIn(landing.url.toString());
        expect(user).toMatchObject({ id: expect.any(String), email: ada.email });
        expect(kept.verifier()).toBeNull();
        expect(kept.session()).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String) });
        expect((await auth.request(docs.MeDocument)).me).toMatchObject({ id: user.id, email: ada.email });

        // A second start makes a new verifier; the landing's query string alone is enough to finish.
        const again = await auth.providerSignInUrl('local', { redirectTo: appUrl });
        expect(kept.verifier()).not.toBe(verifier);
        const back = await signInThrough(h, t, { account: ada.sub, redirectTo: appUrl, url: again });
        expect(await app.finishSignIn(auth, back.url.search)).toEqual({ signedIn: true, userId: user.id });
      });

      it('refuses the code without the verifier that made the challenge, or with another one', async () => {
        const ben = account('ben');
        const starter = createAuthClient({ url: t.url, storage: inspectable().storage });

        // Another client (another browser, a store that lost the verifier) has none.
        const landing = await signInThrough(h, t, {
          account: ben.sub,
          redirectTo: appUrl,
          url: await starter.providerSignInUrl('local', { redirectTo: appUrl }),
        });
        const kept = inspectable();
        const stranger = createAuthClient({ url: t.url, storage: kept.storage });
        const err = await stranger.finishProviderSignIn(landing.url).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AuthgateError);
        expect(err).toMatchObject({ code: 'BAD_USER_INPUT' });
        expect(kept.session()).toBeNull();
        // The refused attempt spent the code: not even the starter can finish it now.
        await expect(starter.finishProviderSignIn(landing.url)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
        expect(await app.finishSignIn(starter, landing.url)).toEqual({ signedIn: false, why: 'start-again' });

        // A stored verifier that is not the challenge's.
        const wrong = createAuthClient({ url: t.url, storage: kept.storage });
        const second = await signInThrough(h, t, {
          account: ben.sub,
          redirectTo: appUrl,
          url: await wrong.providerSignInUrl('local', { redirectTo: appUrl }),
        });
        kept.replaceVerifier(randomBytes(32).toString('base64url'));
        await expect(wrong.finishProviderSignIn(second.url)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
        expect(kept.verifier()).toBeNull();
        expect(kept.session()).toBeNull();
      });

      it('throws the landing error when the user refuses at the provider, and forgets the verifier', async () => {
        const kept = inspectable();
        const auth = createAuthClient({ url: t.url, storage: kept.storage });
        const landing = await signInThrough(h, t, {
          account: null,
          redirectTo: appUrl,
          url: await auth.providerSignInUrl('local', { redirectTo: appUrl }),
        });
        expect(landing.error).toBe('access_denied');
        const err = await auth.finishProviderSignIn(landing.url).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ProviderSignInError);
        expect(err).toMatchObject({ error: 'access_denied', message: expect.stringContaining('access_denied') });
        expect(kept.verifier()).toBeNull();
        expect(kept.session()).toBeNull();

        const bare = await auth.finishProviderSignIn(new URLSearchParams()).catch((e: unknown) => e);
        expect(bare).toMatchObject({ name: 'ProviderSignInError', error: 'missing_code' });

        // What the example's landing page makes of a refusal.
        const refusedAgain = await signInThrough(h, t, {
          account: null,
          redirectTo: appUrl,
          url: await auth.providerSignInUrl('local', { redirectTo: appUrl }),
        });
        expect(await app.finishSignIn(auth, refusedAgain.url)).toEqual({ signedIn: false, why: 'cancelled' });
      });
    });
  });

  describe('with trusted documents: the app’s manifest and the package’s, on a gateway that runs nothing else', () => {
    const appManifestFile = join(example, 'src/gql/persisted-documents.json');
    // Where an app finds it: resolved from the example, as its own imports are.
    const packageManifestFile = createRequire(join(example, 'package.json')).resolve(
      '@authgate/client/persisted-documents.json',
    );
    let trusted: TestGateway;
    let appManifest: Record<string, string>;
    let packageManifest: Record<string, string>;
    /** Which manifest holds a document id. */
    const holder = (id: string): 'app' | 'package' | 'neither' =>
      id in appManifest ? 'app' : id in packageManifest ? 'package' : 'neither';
    beforeAll(async () => {
      appManifest = JSON.parse(await readFile(appManifestFile, 'utf8'));
      packageManifest = JSON.parse(await readFile(packageManifestFile, 'utf8'));
      trusted = await startGateway({
        TRUSTED_DOCUMENTS: `${appManifestFile},${packageManifestFile}`,
        TRUSTED_DOCUMENTS_ONLY: 'true',
      });
    });
    afterAll(async () => {
      await trusted?.close();
    });

    it('codegen writes the app’s manifest and ids; the client’s own operations are in the package’s', () => {
      for (const name of ['MeDocument', 'ProfilesDocument', 'UpdateProfileDocument'] as const) {
        // documentMode 'string': the document is its text, with its id beside it.
        const doc = docs[name] as unknown as string & { __meta__?: { hash?: string } };
        expect(doc).toBeInstanceOf(String);
        const hash = doc.__meta__?.hash;
        expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
        const text = appManifest[hash!];
        expect(createHash('sha256').update(text!).digest('hex')).toBe(hash!.slice('sha256:'.length));
      }
      // Sign-in, refresh, sign-out… are the package's: the app's manifest alone cannot sign anyone in.
      for (const text of Object.values(DOCUMENTS)) {
        const id = `sha256:${createHash('sha256').update(text).digest('hex')}`;
        expect(holder(id), text).toBe('package');
      }
    });

    it('runs the whole session by id: sign-up, requests, refresh, sign-out; no request carries text', async () => {
      const kept = inspectable();
      const r = recording();
      const options = { url: trusted.url, storage: kept.storage, fetch: r.fetch, persistedDocuments: true };
      const auth = createAuthClient(options);
      const { user } = await auth.signUp({ email: email('trusted'), password: PASSWORD });
      expect((await auth.request(docs.MeDocument)).me).toMatchObject({ id: user.id });
      const { updateProfile } = await auth.request(docs.UpdateProfileDocument, { input: { fullName: 'By Id' } });
      expect(updateProfile).toMatchObject({ id: user.id, fullName: 'By Id' });
      // A token about to expire: the refresh goes first, by id too.
      const before = kept.session()!.refreshToken;
      kept.patch(expiringNow());
      const later = createAuthClient(options);
      expect((await later.request(docs.ProfilesDocument, { first: 5 })).profiles.edges.length).toBeGreaterThan(0);
      expect(kept.session()!.refreshToken).not.toBe(before);
      expect(await later.signOut()).toBe(true);

      const sent = r.sent.map(({ op, body }) => {
        expect(body).not.toHaveProperty('query');
        const { sha256Hash } = (body.extensions as { persistedQuery: { sha256Hash: string } }).persistedQuery;
        return [op, holder(sha256Hash)];
      });
      expect(sent).toEqual([
        ['SignUp', 'package'],
        ['Me', 'app'],
        ['UpdateProfile', 'app'],
        ['Refresh', 'package'],
        ['Profiles', 'app'],
        ['SignOut', 'package'],
      ]);
    });

    it('refuses document text, from the same client without ids or sent raw, and runs none of it', async () => {
      const byText = app.createAppClient(trusted.url);
      const refused = await byText.signUp({ email: email('text'), password: PASSWORD }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AuthgateError);
      expect(refused).toMatchObject({ code: 'FORBIDDEN' });
      expect(byText.session).toBeNull();

      const byId = app.createAppClient(trusted.url, { trusted: true });
      const { user, accessToken } = await byId.signUp({ email: email('trusted'), password: PASSWORD });
      const raw = await trusted.gql('mutation { updateProfile(input: { fullName: "Raw" }) { id } }', {}, accessToken);
      expect(raw.data ?? null).toBeNull();
      expect(raw.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'PERSISTED_DOCUMENT_REQUIRED' });
      expect(await app.currentUser(byId)).toMatchObject({ id: user.id });
      const rows = await trusted.admin<{ full_name: string | null }[]>`
        select full_name from public.profiles where id = ${user.id}`;
      expect(rows[0]?.full_name).toBeNull();
    });
  });
});
