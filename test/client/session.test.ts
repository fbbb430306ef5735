import {
  type AuthChangeEvent,
  type AuthClient,
  AuthgateError,
  createAuthClient,
  errorCode,
  memoryStorage,
  type Session,
} from '@authgate/client';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { email, PASSWORD, startGateway, type TestGateway } from '../helpers.js';

// The package as an app uses it, from its build (packages/client/dist, made by `npm run check`),
// against a live gateway. The browser's share (tabs, reloads, cookies) is in browser.test.ts.

let t: TestGateway;
beforeAll(async () => {
  t = await startGateway();
});
afterAll(async () => {
  await t?.close();
});

const url = () => t.url;

/** Counts the refresh mutations that reach the gateway through this client. */
function countingFetch(): { fetch: typeof fetch; refreshes: () => number } {
  let n = 0;
  return {
    fetch: async (input, init) => {
      if (typeof init?.body === 'string' && init.body.includes('"operationName":"Refresh"')) n++;
      return fetch(input, init);
    },
    refreshes: () => n,
  };
}

function recorder(client: AuthClient): AuthChangeEvent[] {
  const events: AuthChangeEvent[] = [];
  client.onAuthStateChange((event) => events.push(event));
  return events;
}

describe('@authgate/client in Node', () => {
  it('signs up, keeps the session in its storage and a second client on that storage reads it back', async () => {
    const storage = memoryStorage();
    const client = createAuthClient({ url: url(), storage });
    const events = recorder(client);
    const mail = email('pkg');
    const session = await client.signUp({ email: mail, password: PASSWORD });
    expect(session.user.email).toBe(mail);
    expect(session.refreshToken).toMatch(/\S{20,}/);
    expect(events).toEqual(['INITIAL_SESSION', 'SIGNED_IN']);

    const { me } = await client.request<{ me: { email: string } | null }, Record<string, never>>(
      'query { me { email } }',
    );
    expect(me?.email).toBe(mail);

    // "A reload": a new client on the same storage.
    const again = createAuthClient({ url: url(), storage });
    expect((await again.getSession())?.accessToken).toBe(session.accessToken);
    expect((await again.getUser())?.email).toBe(mail);
  });

  it('renews an expired token once for concurrent requests (a laptop back from sleep), and says TOKEN_REFRESHED', async () => {
    const counting = countingFetch();
    const storage = memoryStorage();
    const signedIn = await createAuthClient({ url: url(), storage }).signUp({
      email: email('pkg'),
      password: PASSWORD,
    });
    // The tab slept past the token's expiry: the stored session says it expired a minute ago.
    const expired = { ...signedIn, expiresAt: new Date(Date.now() - 60_000).toISOString() };
    await storage.setItem('authgate.session', JSON.stringify({ v: 1, ...expired }));
    const client = createAuthClient({ url: url(), storage, fetch: counting.fetch });
    const events = recorder(client);
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        client.request<{ me: { id: string } }, Record<string, never>>('query { me { id } }'),
      ),
    );
    expect(results.every((r) => r.me.id === signedIn.user.id)).toBe(true);
    expect(counting.refreshes()).toBe(1);
    expect(client.session?.accessToken).not.toBe(signedIn.accessToken);
    expect(events).toEqual(['INITIAL_SESSION', 'TOKEN_REFRESHED']);
    // The new token is good for an hour: the next requests renew nothing.
    await client.request('query { me { id } }');
    expect(counting.refreshes()).toBe(1);
  });

  it('on UNAUTHENTICATED renews once and retries through client.fetch; a dead session ends in SIGNED_OUT, once', async () => {
    const counting = countingFetch();
    const storage = memoryStorage();
    const client = createAuthClient({ url: url(), storage, fetch: counting.fetch });
    const events = recorder(client);
    const s = await client.signUp({ email: email('pkg'), password: PASSWORD });
    // A token the gateway refuses (a signature that does not verify) in place of the good one.
    const bad: Session = { ...s, accessToken: `${s.accessToken.slice(0, -4)}AAAA` };
    await storage.setItem('authgate.session', JSON.stringify({ v: 1, ...bad }));
    const reloaded = createAuthClient({ url: url(), storage, fetch: counting.fetch });
    const { me } = await reloaded.request<{ me: { id: string } }, Record<string, never>>('query { me { id } }');
    expect(me.id).toBe(s.user.id);
    expect(counting.refreshes()).toBe(1);

    // The session revoked on the gateway: the retry's renewal fails, the client signs out once.
    const reloadedEvents = recorder(reloaded);
    await t.admin`delete from auth.sessions where user_id = ${s.user.id}`;
    await storage.setItem(
      'authgate.session',
      JSON.stringify({ v: 1, ...bad, refreshToken: reloaded.session?.refreshToken }),
    );
    const third = createAuthClient({ url: url(), storage, fetch: counting.fetch });
    const thirdEvents = recorder(third);
    const err = await third.request('query { me { id } }').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthgateError);
    expect(errorCode(err)).toBe('UNAUTHENTICATED');
    expect(counting.refreshes()).toBe(2);
    expect(thirdEvents).toEqual(['INITIAL_SESSION', 'SIGNED_OUT']);
    expect(await storage.getItem('authgate.session')).toBeNull();
    expect(third.session).toBeNull();
    // Signed out, the next request goes anonymously and renews nothing.
    expect((await third.request<{ me: unknown }, Record<string, never>>('query { me { id } }')).me).toBeNull();
    expect(counting.refreshes()).toBe(2);
    expect(events[0]).toBe('INITIAL_SESSION');
    expect(reloadedEvents[0]).toBe('INITIAL_SESSION');
  });

  it('surfaces typed error codes and changes nothing on a failed sign-in', async () => {
    const client = createAuthClient({ url: url() });
    const err = await client.signIn({ email: email('nobody'), password: PASSWORD }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthgateError);
    expect((err as AuthgateError).code).toBe('INVALID_CREDENTIALS');
    expect(client.session).toBeNull();
  });

  it('signs out on the gateway, clears storage and the refresh token no longer works', async () => {
    const storage = memoryStorage();
    const client = createAuthClient({ url: url(), storage });
    const events = recorder(client);
    const s = await client.signUp({ email: email('pkg'), password: PASSWORD });
    expect(await client.signOut()).toBe(true);
    expect(events.at(-1)).toBe('SIGNED_OUT');
    expect(await storage.getItem('authgate.session')).toBeNull();
    const res = await t.gql('mutation($r: String!) { refresh(refreshToken: $r) { accessToken } }', {
      r: s.refreshToken,
    });
    expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('keeps the refresh token out of storage when told to', async () => {
    const storage = memoryStorage();
    const client = createAuthClient({
      url: url(),
      storage,
      persistRefreshToken: false,
      refreshMarginSeconds: 24 * 3600,
    });
    const s = await client.signUp({ email: email('pkg'), password: PASSWORD });
    const stored = JSON.parse((await storage.getItem('authgate.session')) ?? '{}') as Session;
    expect(stored.accessToken).toBe(s.accessToken);
    expect(stored.refreshToken).toBeNull();
    expect(JSON.stringify(stored)).not.toContain(s.refreshToken as string);
    // This client still holds it in memory, and renews with it.
    const renewed = await client.refreshSession();
    expect(renewed?.accessToken).not.toBe(s.accessToken);
    expect(await storage.getItem('authgate.session')).not.toContain(renewed?.refreshToken as string);
  });

  it('keeps the session in an async store (React Native and the like) and reads it back', async () => {
    const items = new Map<string, string>();
    const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 5));
    const asyncStorage = {
      getItem: (key: string) => later(items.get(key) ?? null),
      setItem: (key: string, value: string) => later(void items.set(key, value)),
      removeItem: (key: string) => later(void items.delete(key)),
    };
    const s = await createAuthClient({ url: url(), storage: asyncStorage }).signUp({
      email: email('pkg'),
      password: PASSWORD,
    });
    const again = createAuthClient({ url: url(), storage: asyncStorage });
    expect(again.session).toBeNull(); // not read yet: the store answers later
    expect((await again.getSession())?.accessToken).toBe(s.accessToken);
    expect(await again.signOut()).toBe(true);
    expect(items.size).toBe(0);
  });

  it('says MFA_REQUIRED for a sign-in that owes a second factor, and SIGNED_IN at aal2 once verifyMfa passes it', async () => {
    const client = createAuthClient({ url: url() });
    const s = await client.signUp({ email: email('pkg'), password: PASSWORD });
    const totp = (secret: string, steps: number) =>
      new OTPAuth.TOTP({
        secret: OTPAuth.Secret.fromBase32(secret),
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      }).generate({ timestamp: Date.now() + steps * 30_000 });
    const { mfaEnroll } = await client.request<
      { mfaEnroll: { factorId: string; secret: string } },
      Record<string, never>
    >('mutation { mfaEnroll(friendlyName: "phone") { factorId secret } }');
    await client.request(
      'mutation($id: ID!, $code: String!) { mfaActivate(factorId: $id, code: $code) { recoveryCodes } }',
      {
        id: mfaEnroll.factorId,
        code: totp(mfaEnroll.secret, 0),
      },
    );
    await client.signOut();

    const events = recorder(client);
    const aal1 = await client.signIn({ email: s.user.email, password: PASSWORD });
    expect(aal1).toMatchObject({ aal: 'aal1', mfaRequired: true });
    const aal2 = await client.verifyMfa(mfaEnroll.factorId, totp(mfaEnroll.secret, 1));
    expect(aal2).toMatchObject({ aal: 'aal2', mfaRequired: false });
    expect(client.session?.aal).toBe('aal2');
    expect(events).toEqual(['INITIAL_SESSION', 'MFA_REQUIRED', 'SIGNED_IN']);
  });

  it('reports USER_UPDATED after refreshUser when the user changed', async () => {
    const client = createAuthClient({ url: url() });
    const events = recorder(client);
    const s = await client.signUp({ email: email('pkg'), password: PASSWORD });
    await t.admin`update auth.users set raw_user_meta_data = raw_user_meta_data || '{"plan":"pro"}' where id = ${s.user.id}`;
    const user = await client.refreshUser();
    expect(user?.userMetadata.plan).toBe('pro');
    expect(client.session?.user.userMetadata.plan).toBe('pro');
    expect(events).toContain('USER_UPDATED');
  });
});
