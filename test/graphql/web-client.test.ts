import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ProviderHarness, startProvider } from '../../dev/oidc-provider.js';
import { email, PASSWORD, startGateway, type TestGateway } from '../helpers.js';
import { signInThrough } from '../oidc-browser.js';
import { freePort } from '../ports.js';

// The example lives outside the root tsconfig on purpose: its src/gql/ is generated (git-ignored),
// so the root `tsc` must not follow an import into it. The example is type-checked here with its
// own tsconfig after codegen, and its modules are loaded by a path tsc does not resolve.
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

// The subset of examples/web-client/src/client.ts this file drives; its real types are checked by tsc above.
type Tokens = { accessToken: string; refreshToken: string; expiresAt: string };
type Storage = { get(): Tokens | null; set(t: Tokens | null): void };
type VerifierStorage = { get(): string | null; set(v: string | null): void };
type User = { id: string; email: string };
type Client = {
  request(document: unknown, variables?: Record<string, unknown>): Promise<any>;
  signUp(input: { email: string; password: string; data?: unknown }): Promise<{ id: string; email: string }>;
  signIn(input: { email: string; password: string }): Promise<{ id: string; email: string }>;
  register(input: { email: string; password: string }): Promise<{ user: User; confirmationRequired: boolean }>;
  providerSignInUrl(provider: string, options?: { redirectTo?: string }): Promise<string>;
  finishProviderSignIn(landing: string | URL | URLSearchParams): Promise<User>;
  signOut(scope?: string): Promise<boolean>;
  storage: Storage;
};
type ClientModule = {
  createAuthClient(o: {
    url: string;
    storage?: Storage;
    fetch?: typeof fetch;
    refreshMarginSeconds?: number;
    verifierStorage?: VerifierStorage;
    persistedDocuments?: boolean;
  }): Client;
  memoryStorage(initial?: Tokens | null): Storage;
  memoryVerifierStorage(): VerifierStorage;
  GraphQLRequestError: new (...args: any[]) => Error & { code: string | undefined; status: number | undefined };
  ProviderSignInError: new (...args: any[]) => Error & { error: string; description: string | undefined };
};
type Documents = Record<'MeDocument' | 'ProfilesDocument' | 'UpdateProfileDocument', unknown>;

let lib: ClientModule;
let docs: Documents;
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
      ACCESS_TOKEN_TTL_S: '30',
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
  lib = (await load('client.ts')) as ClientModule;
  docs = (await load('documents.ts')) as Documents;
});
afterAll(async () => {
  await t?.close();
  await h?.close();
});

describe('the typed client example', () => {
  it('type-checks after codegen', async () => {
    const res = await tsc();
    expect(res.code, res.output).toBe(0);
  });

  it('rejects wrongly typed variables and results at compile time', async () => {
    const file = join(example, 'src', `wrong-usage-${process.pid}.ts`);
    await writeFile(
      file,
      [
        `import { createAuthClient } from './client.js';`,
        `import { MeDocument, SignOutDocument, UpdateProfileDocument } from './documents.js';`,
        `const auth = createAuthClient({ url: 'http://localhost/graphql' });`,
        `await auth.signIn({ email: 42, password: 'x' });`,
        `await auth.request(UpdateProfileDocument);`,
        `await auth.request(SignOutDocument, { scope: 'EVERYWHERE' });`,
        `(await auth.request(MeDocument)).me?.nickname;`,
        `await auth.request(MeDocument);`,
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
    // Lines 4-7 fail, each for its own reason; the correct call on line 8 does not.
    expect(errors.map((l) => /\((\d+),\d+\)/.exec(l)?.[1])).toEqual(['4', '5', '6', '7']);
    expect(errors[0]).toContain("Type 'number' is not assignable to type 'string'");
    expect(errors.every((l) => l.startsWith(`src/wrong-usage-${process.pid}.ts`))).toBe(true);
  });

  describe('against a live gateway', () => {
    // Records each request's operation and bearer, to count refreshes and retries.
    const counted = (): { fetch: typeof fetch; sent: Array<{ op: string; bearer: string | undefined }> } => {
      const sent: Array<{ op: string; bearer: string | undefined }> = [];
      return {
        sent,
        fetch: async (input, init) => {
          const headers = init?.headers as Record<string, string>;
          sent.push({ op: JSON.parse(String(init?.body)).operationName, bearer: headers.authorization });
          return fetch(input, init);
        },
      };
    };
    const refreshes = (c: ReturnType<typeof counted>): number => c.sent.filter((r) => r.op === 'Refresh').length;

    it('signs up, reads me with the bearer and refreshes once for concurrent requests', async () => {
      const storage = lib.memoryStorage();
      const a = counted();
      // The default margin (30 s) would cover the whole of this gateway's 30 s tokens.
      const auth = lib.createAuthClient({ url: t.url, storage, fetch: a.fetch, refreshMarginSeconds: 5 });
      const mail = email('webclient');
      const user = await auth.signUp({ email: mail, password: PASSWORD, data: { username: `wc_${Date.now()}` } });
      expect(user.email).toBe(mail);
      const signedUp = storage.get()!;
      expect(signedUp.accessToken).toEqual(expect.any(String));
      expect(Date.parse(signedUp.expiresAt) - Date.now()).toBeLessThanOrEqual(30_000);

      const { me } = await auth.request(docs.MeDocument);
      expect(me).toMatchObject({ id: user.id, email: mail, role: 'authenticated' });
      const { profiles } = await auth.request(docs.ProfilesDocument, { first: 5 });
      expect(profiles.edges.map((e: any) => e.node.id)).toContain(user.id);
      expect(refreshes(a)).toBe(0);

      // A 30 s token is always within a 60 s margin: every batch of requests refreshes first.
      const b = counted();
      const eager = lib.createAuthClient({ url: t.url, storage, fetch: b.fetch, refreshMarginSeconds: 60 });
      const results = await Promise.all(Array.from({ length: 5 }, () => eager.request(docs.MeDocument)));
      for (const r of results) expect(r.me?.id).toBe(user.id);
      expect(refreshes(b)).toBe(1);
      const refreshed = storage.get()!;
      expect(refreshed.accessToken).not.toBe(signedUp.accessToken);
      expect(refreshed.refreshToken).not.toBe(signedUp.refreshToken);

      const { updateProfile } = await eager.request(docs.UpdateProfileDocument, { input: { fullName: 'Web Client' } });
      expect(updateProfile).toMatchObject({ id: user.id, fullName: 'Web Client' });
      expect(refreshes(b)).toBe(2);
    });

    it('refreshes and retries once when the server refuses the access token', async () => {
      const storage = lib.memoryStorage();
      const c = counted();
      const auth = lib.createAuthClient({ url: t.url, storage, fetch: c.fetch, refreshMarginSeconds: 5 });
      const user = await auth.signUp({ email: email('webclient'), password: PASSWORD });
      const valid = storage.get()!;
      storage.set({ ...valid, accessToken: 'not-a-jwt' });

      const results = await Promise.all(Array.from({ length: 5 }, () => auth.request(docs.MeDocument)));
      for (const r of results) expect(r.me?.id).toBe(user.id);
      expect(refreshes(c)).toBe(1);
      // Each request went out once with the refused token and once more with the new one.
      const me = c.sent.filter((r) => r.op === 'Me');
      expect(me.filter((r) => r.bearer === 'Bearer not-a-jwt')).toHaveLength(5);
      expect(me.filter((r) => r.bearer === `Bearer ${storage.get()!.accessToken}`)).toHaveLength(5);
      expect(storage.get()!.accessToken).not.toBe('not-a-jwt');
      expect(storage.get()!.refreshToken).not.toBe(valid.refreshToken);
    });

    it('surfaces error codes and clears the tokens when the refresh token is no longer valid', async () => {
      const storage = lib.memoryStorage();
      const auth = lib.createAuthClient({ url: t.url, storage, refreshMarginSeconds: 5 });
      const err = await auth.signIn({ email: email('nobody'), password: PASSWORD }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(lib.GraphQLRequestError);
      expect(err).toMatchObject({ code: 'INVALID_CREDENTIALS' });
      expect(storage.get()).toBeNull();

      // Refused access token, then a refused refresh token: the session is over.
      await auth.signUp({ email: email('webclient'), password: PASSWORD });
      storage.set({ ...storage.get()!, accessToken: 'not-a-jwt', refreshToken: 'not-a-refresh-token' });
      await expect(auth.request(docs.MeDocument)).rejects.toMatchObject({ code: 'INVALID_REFRESH_TOKEN' });
      expect(storage.get()).toBeNull();
      expect((await auth.request(docs.MeDocument)).me).toBeNull();

      // The same when the refresh ahead of expiry is refused.
      await auth.signUp({ email: email('webclient'), password: PASSWORD });
      storage.set({ ...storage.get()!, refreshToken: 'not-a-refresh-token' });
      const eager = lib.createAuthClient({ url: t.url, storage, refreshMarginSeconds: 60 });
      await expect(eager.request(docs.MeDocument)).rejects.toMatchObject({ code: 'INVALID_REFRESH_TOKEN' });
      expect(storage.get()).toBeNull();
    });

    it('signs out on the server and clears the storage', async () => {
      const storage = lib.memoryStorage();
      const auth = lib.createAuthClient({ url: t.url, storage, refreshMarginSeconds: 5 });
      const mail = email('webclient');
      await auth.signUp({ email: mail, password: PASSWORD });
      const ended = storage.get()!;
      expect(await auth.signOut()).toBe(true);
      expect(storage.get()).toBeNull();
      expect((await auth.request(docs.MeDocument)).me).toBeNull();
      // The old access token is refused from now on.
      const res = await t.gql('query { me { id } }', {}, ended.accessToken);
      expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

      // Signing out still clears the storage when the server cannot be reached.
      await auth.signIn({ email: mail, password: PASSWORD });
      const offline = lib.createAuthClient({
        url: t.url,
        storage,
        fetch: () => Promise.reject(new TypeError('fetch failed')),
      });
      expect(await offline.signOut()).toBe(false);
      expect(storage.get()).toBeNull();
    });

    it('registers: stores the session the gateway starts and answers the user', async () => {
      const storage = lib.memoryStorage();
      const auth = lib.createAuthClient({ url: t.url, storage, refreshMarginSeconds: 5 });
      const mail = email('webclient');
      const { user, confirmationRequired } = await auth.register({ email: mail, password: PASSWORD });
      expect(user).toEqual({ id: expect.any(String), email: mail });
      // This gateway does not require confirmed emails: the account is signed in at once.
      expect(confirmationRequired).toBe(false);
      expect(storage.get()).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String) });
      expect((await auth.request(docs.MeDocument)).me).toMatchObject({ id: user.id, email: mail });

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
        const storage = lib.memoryStorage();
        const verifierStorage = lib.memoryVerifierStorage();
        const auth = lib.createAuthClient({ url: t.url, storage, verifierStorage, refreshMarginSeconds: 5 });
        const ada = account('ada');

        const start = new URL(await auth.providerSignInUrl('local', { redirectTo: appUrl }));
        expect(start.origin + start.pathname).toBe(`${gatewayOrigin}/auth/local/start`);
        const verifier = verifierStorage.get()!;
        expect(verifier).toMatch(/^[\w-]{43}$/);
        expect(Object.fromEntries(start.searchParams)).toEqual({
          redirect_to: appUrl,
          code_challenge: challengeOf(verifier),
          code_challenge_method: 'S256',
        });

        const landing = await signInThrough(h, t, { account: ada.sub, redirectTo: appUrl, url: start.toString() });
        expect(landing.code).toBeTruthy();
        const user = await auth.finishProviderSignIn(landing.url.toString());
        expect(user).toEqual({ id: expect.any(String), email: ada.email });
        expect(verifierStorage.get()).toBeNull();
        expect(storage.get()).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String) });
        expect((await auth.request(docs.MeDocument)).me).toMatchObject({ id: user.id, email: ada.email });

        // A second start makes a new verifier; the landing's query string alone is enough to finish.
        const again = await auth.providerSignInUrl('local', { redirectTo: appUrl });
        expect(verifierStorage.get()).not.toBe(verifier);
        const back = await signInThrough(h, t, { account: ada.sub, redirectTo: appUrl, url: again });
        expect((await auth.finishProviderSignIn(back.url.search)).id).toBe(user.id);
      });

      it('refuses the code without the verifier that made the challenge, or with another one', async () => {
        const ben = account('ben');
        const starter = lib.createAuthClient({ url: t.url });

        // Another client instance (another tab, a page that lost its memory) has no verifier.
        const landing = await signInThrough(h, t, {
          account: ben.sub,
          redirectTo: appUrl,
          url: await starter.providerSignInUrl('local', { redirectTo: appUrl }),
        });
        const storage = lib.memoryStorage();
        const stranger = lib.createAuthClient({ url: t.url, storage });
        const err = await stranger.finishProviderSignIn(landing.url).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(lib.GraphQLRequestError);
        expect(err).toMatchObject({ code: 'BAD_USER_INPUT' });
        expect(storage.get()).toBeNull();
        // The refused attempt spent the code: not even the starter can finish it now.
        await expect(starter.finishProviderSignIn(landing.url)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });

        // A stored verifier that is not the challenge's.
        const verifierStorage = lib.memoryVerifierStorage();
        const wrong = lib.createAuthClient({ url: t.url, storage, verifierStorage });
        const second = await signInThrough(h, t, {
          account: ben.sub,
          redirectTo: appUrl,
          url: await wrong.providerSignInUrl('local', { redirectTo: appUrl }),
        });
        verifierStorage.set(randomBytes(32).toString('base64url'));
        await expect(wrong.finishProviderSignIn(second.url)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
        expect(verifierStorage.get()).toBeNull();
        expect(storage.get()).toBeNull();
      });

      it('throws the landing error when the user refuses at the provider, and forgets the verifier', async () => {
        const verifierStorage = lib.memoryVerifierStorage();
        const storage = lib.memoryStorage();
        const auth = lib.createAuthClient({ url: t.url, storage, verifierStorage });
        const landing = await signInThrough(h, t, {
          account: null,
          redirectTo: appUrl,
          url: await auth.providerSignInUrl('local', { redirectTo: appUrl }),
        });
        expect(landing.error).toBe('access_denied');
        const err = await auth.finishProviderSignIn(landing.url).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(lib.ProviderSignInError);
        expect(err).toMatchObject({ error: 'access_denied', message: expect.stringContaining('access_denied') });
        expect(verifierStorage.get()).toBeNull();
        expect(storage.get()).toBeNull();

        const bare = await auth.finishProviderSignIn(new URLSearchParams()).catch((e: unknown) => e);
        expect(bare).toMatchObject({ name: 'ProviderSignInError', error: 'missing_code' });
      });
    });
  });

  describe('with trusted documents: the ids codegen wrote, on a gateway that runs nothing else', () => {
    const manifestFile = join(example, 'src/gql/persisted-documents.json');
    let trusted: TestGateway;
    let manifest: Record<string, string>;
    beforeAll(async () => {
      manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
      trusted = await startGateway({
        TRUSTED_DOCUMENTS: manifestFile,
        TRUSTED_DOCUMENTS_ONLY: 'true',
        ACCESS_TOKEN_TTL_S: '30',
      });
    });
    afterAll(async () => {
      await trusted?.close();
    });

    it('codegen writes the manifest and gives each document its id', () => {
      for (const name of ['MeDocument', 'ProfilesDocument', 'UpdateProfileDocument'] as const) {
        const hash = (docs[name] as { __meta__?: { hash?: string } }).__meta__?.hash;
        expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
        const text = manifest[hash!];
        expect(createHash('sha256').update(text!).digest('hex')).toBe(hash!.slice('sha256:'.length));
      }
    });

    it('runs the whole session by id: sign-up, requests, refresh, sign-out; no request carries text', async () => {
      const bodies: Array<Record<string, any>> = [];
      const recording: typeof fetch = (input, init) => {
        bodies.push(JSON.parse(String(init?.body)));
        return fetch(input, init);
      };
      const storage = lib.memoryStorage();
      const auth = lib.createAuthClient({
        url: trusted.url,
        storage,
        fetch: recording,
        persistedDocuments: true,
        refreshMarginSeconds: 5,
      });
      const user = await auth.signUp({ email: email('trusted'), password: PASSWORD });
      expect((await auth.request(docs.MeDocument)).me).toMatchObject({ id: user.id });
      const { updateProfile } = await auth.request(docs.UpdateProfileDocument, { input: { fullName: 'By Id' } });
      expect(updateProfile).toMatchObject({ id: user.id, fullName: 'By Id' });
      // A 30 s token within a 60 s margin: the refresh goes first, by id too.
      const eager = lib.createAuthClient({
        url: trusted.url,
        storage,
        fetch: recording,
        persistedDocuments: true,
        refreshMarginSeconds: 60,
      });
      const before = storage.get()!.refreshToken;
      expect((await eager.request(docs.ProfilesDocument, { first: 5 })).profiles.edges.length).toBeGreaterThan(0);
      expect(storage.get()!.refreshToken).not.toBe(before);
      expect(await auth.signOut()).toBe(true);

      expect(bodies.map((b) => b.operationName)).toEqual([
        'SignUp',
        'Me',
        'UpdateProfile',
        'Refresh',
        'Profiles',
        'SignOut',
      ]);
      for (const body of bodies) {
        expect(body).not.toHaveProperty('query');
        expect(manifest).toHaveProperty([body.extensions.persistedQuery.sha256Hash]);
      }
    });

    it('refuses document text, from the same client without ids or sent raw, and runs none of it', async () => {
      const storage = lib.memoryStorage();
      const byText = lib.createAuthClient({ url: trusted.url, storage });
      const refused = await byText.signUp({ email: email('text'), password: PASSWORD }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(lib.GraphQLRequestError);
      expect(refused).toMatchObject({ code: 'FORBIDDEN' });
      expect(storage.get()).toBeNull();

      const byId = lib.createAuthClient({ url: trusted.url, storage, persistedDocuments: true });
      const user = await byId.signUp({ email: email('trusted'), password: PASSWORD });
      const raw = await trusted.gql(
        'mutation { updateProfile(input: { fullName: "Raw" }) { id } }',
        {},
        storage.get()!.accessToken,
      );
      expect(raw.data ?? null).toBeNull();
      expect(raw.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'PERSISTED_DOCUMENT_REQUIRED' });
      expect((await byId.request(docs.MeDocument)).me).toMatchObject({ id: user.id });
      const rows = await trusted.admin<{ full_name: string | null }[]>`
        select full_name from public.profiles where id = ${user.id}`;
      expect(rows[0]?.full_name).toBeNull();
    });
  });
});
