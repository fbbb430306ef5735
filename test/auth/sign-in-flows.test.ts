import argon2 from 'argon2';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  codeOf,
  email,
  ME,
  PASSWORD,
  REFRESH,
  SIGN_IN,
  SIGN_UP,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startGateway();
});
afterAll(async () => {
  await t?.close();
});

const count = async (sql: string, ...args: unknown[]): Promise<number> => {
  const [row] = await t.admin.unsafe(sql, args as string[]);
  return Number(row?.n);
};

describe('signUp', () => {
  it('creates a user with its profile and returns a bearer token pair with the contract claims', async () => {
    const mail = email('Ada');
    const res = await t.gql(SIGN_UP, {
      input: {
        email: `  ${mail.toUpperCase()} `,
        password: PASSWORD,
        data: { username: 'ada_l', full_name: 'Ada Lovelace', website: 'https://ada.example', theme: 'dark' },
      },
    });
    expect(res.errors).toBeUndefined();
    const p = res.data!.signUp;
    expect(p.tokenType).toBe('bearer');
    expect(p.expiresIn).toBe(3600);
    expect(Math.abs(new Date(p.expiresAt).getTime() - (Date.now() + 3600_000))).toBeLessThan(60_000);
    expect(p.user.email).toBe(mail.toLowerCase());
    expect(p.user.role).toBe('authenticated');
    expect(p.user.userMetadata).toEqual({
      username: 'ada_l',
      full_name: 'Ada Lovelace',
      website: 'https://ada.example',
      theme: 'dark',
    });
    expect(p.user.profile).toMatchObject({
      id: p.user.id,
      username: 'ada_l',
      fullName: 'Ada Lovelace',
      website: 'https://ada.example',
      avatarUrl: null,
      isPublic: true,
    });
    const header = decodeProtectedHeader(p.accessToken);
    expect(header.alg).toBe('ES256');
    expect(header.kid).toEqual(expect.any(String));
    const claims = decodeJwt(p.accessToken);
    expect(claims).toMatchObject({
      sub: p.user.id,
      aud: 'authenticated',
      role: 'authenticated',
      email: mail.toLowerCase(),
      aal: 'aal1',
      is_anonymous: false,
      user_metadata: { username: 'ada_l' },
      app_metadata: { provider: 'email', providers: ['email'] },
    });
    for (const k of ['iss', 'exp', 'iat', 'session_id', 'amr']) expect(claims).toHaveProperty(k);
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);

    const [row] = await t.admin`select encrypted_password from auth.users where id = ${p.user.id}`;
    expect(row?.encrypted_password).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(await count('select count(*) n from auth.refresh_tokens where user_id = $1', p.user.id)).toBe(1);
    const [tok] = await t.admin`select token_hash from auth.refresh_tokens where user_id = ${p.user.id}`;
    expect(tok?.token_hash).not.toContain(p.refreshToken);
    expect(tok?.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives a profile with null fields when data is absent', async () => {
    const s = await signUp(t);
    const me = await t.gql(ME, {}, s.accessToken);
    expect(me.data!.me.profile).toEqual({ id: s.userId, username: null, isPublic: true });
    expect(me.data!.me.userMetadata).toEqual({});
  });

  it('refuses an email that exists in any case with EMAIL_TAKEN', async () => {
    const mail = email();
    await signUp(t, undefined, mail);
    const res = await t.gql(SIGN_UP, { input: { email: mail.toUpperCase(), password: PASSWORD } });
    expect(codeOf(res)).toBe('EMAIL_TAKEN');
  });

  it('refuses a taken username in any case and leaves no user behind', async () => {
    await signUp(t, { username: 'Taken_Name' });
    const mail = email();
    const res = await t.gql(SIGN_UP, { input: { email: mail, password: PASSWORD, data: { username: 'taken_name' } } });
    expect(codeOf(res)).toBe('USERNAME_TAKEN');
    expect(await count('select count(*) n from auth.users where email = $1', mail)).toBe(0);
  });

  it.each([
    ['too short', 'short12'],
    ['too long', 'x'.repeat(1025)],
  ])('refuses a password that is %s with WEAK_PASSWORD', async (_why, password) => {
    const res = await t.gql(SIGN_UP, { input: { email: email(), password } });
    expect(codeOf(res)).toBe('WEAK_PASSWORD');
  });

  it('accepts passwords of exactly 8 and 1024 characters', async () => {
    for (const password of ['12345678', 'y'.repeat(1024)]) {
      const res = await t.gql(SIGN_UP, { input: { email: email(), password } });
      expect(res.errors).toBeUndefined();
    }
  });

  it('refuses a password equal to the email with WEAK_PASSWORD', async () => {
    const mail = email();
    const res = await t.gql(SIGN_UP, { input: { email: mail, password: mail.toUpperCase() } });
    expect(codeOf(res)).toBe('WEAK_PASSWORD');
  });

  it.each([
    ['a malformed email', { email: 'not-an-email' }],
    ['an email over 254 characters', { email: `${'a'.repeat(60)}@${'b'.repeat(190)}.com` }],
    ['a bad username', { data: { username: 'no spaces allowed' } }],
    ['a short username', { data: { username: 'ab' } }],
    ['a non-http avatar URL', { data: { avatar_url: 'javascript:alert(1)' } }],
    ['a website over 2048 characters', { data: { website: `https://x.example/${'a'.repeat(2040)}` } }],
    ['metadata over 16 KiB', { data: { blob: 'x'.repeat(16 * 1024) } }],
    ['metadata that is not an object', { data: [1, 2, 3] }],
    ['a NUL byte in metadata', { data: { note: 'a\u0000b' } }],
    ['a NUL byte in the email', { email: 'a\u0000b@example.com' }],
  ])('refuses %s with BAD_USER_INPUT and creates nothing', async (_why, patch) => {
    const before = await count('select count(*) n from auth.users');
    const res = await t.gql(SIGN_UP, { input: { email: email(), password: PASSWORD, ...patch } });
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(await count('select count(*) n from auth.users')).toBe(before);
  });

  it('stores SQL metacharacters as plain data', async () => {
    const name = "Robert'); drop table public.profiles; --";
    const s = await signUp(t, { full_name: name });
    const [row] = await t.admin`select full_name from public.profiles where id = ${s.userId}`;
    expect(row?.full_name).toBe(name);
  });
});

describe('signIn', () => {
  it('returns a new session for the right password and updates lastSignInAt', async () => {
    const s = await signUp(t);
    const res = await t.gql(SIGN_IN, { input: { email: ` ${s.email.toUpperCase()}`, password: PASSWORD } });
    expect(res.errors).toBeUndefined();
    const p = res.data!.signIn;
    expect(p.user.id).toBe(s.userId);
    expect(p.tokenType).toBe('bearer');
    expect(decodeJwt(p.accessToken).session_id).not.toBe(decodeJwt(s.accessToken).session_id);
    expect(p.user.lastSignInAt).not.toBeNull();
    const me = await t.gql(ME, {}, p.accessToken);
    expect(me.data!.me.id).toBe(s.userId);
  });

  it('answers a wrong password and an unknown email with the same INVALID_CREDENTIALS', async () => {
    const s = await signUp(t);
    const wrong = await t.gql(SIGN_IN, { input: { email: s.email, password: 'wrong password' } });
    const unknown = await t.gql(SIGN_IN, { input: { email: email('nobody'), password: PASSWORD } });
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    expect(codeOf(unknown)).toBe('INVALID_CREDENTIALS');
    expect(wrong.errors![0]!.message).toBe(unknown.errors![0]!.message);
    expect(wrong.data).toEqual(unknown.data);
  });

  it('spends one argon2 verify on an unknown email too', async () => {
    const spy = vi.spyOn(argon2, 'verify');
    try {
      await t.gql(SIGN_IN, { input: { email: email('ghost'), password: PASSWORD } });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]![0]).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('refresh', () => {
  it('rotates: the new refresh token differs, works, and chains to its parent', async () => {
    const s = await signUp(t);
    const r1 = await t.gql(REFRESH, { token: s.refreshToken });
    expect(r1.errors).toBeUndefined();
    const next = r1.data!.refresh;
    expect(next.refreshToken).not.toBe(s.refreshToken);
    expect(decodeJwt(next.accessToken).session_id).toBe(decodeJwt(s.accessToken).session_id);
    const r2 = await t.gql(REFRESH, { token: next.refreshToken });
    expect(r2.errors).toBeUndefined();
    const rows =
      await t.admin`select id, parent_id, spent_at from auth.refresh_tokens where user_id = ${s.userId} order by id`;
    expect(rows).toHaveLength(3);
    expect(rows[1]!.parent_id).toBe(rows[0]!.id);
    expect(rows[2]!.parent_id).toBe(rows[1]!.id);
    expect(rows.filter((r) => r.spent_at === null)).toHaveLength(1);
  });

  it('answers a spent token inside the reuse interval with the same child, for the same session', async () => {
    const s = await signUp(t);
    const a = await t.gql(REFRESH, { token: s.refreshToken });
    const b = await t.gql(REFRESH, { token: s.refreshToken });
    expect(b.errors).toBeUndefined();
    expect(b.data!.refresh.refreshToken).toBe(a.data!.refresh.refreshToken);
    expect(decodeJwt(b.data!.refresh.accessToken).session_id).toBe(decodeJwt(s.accessToken).session_id);
  });

  it('treats a spent token replayed after the interval as theft: the whole session ends', async () => {
    const s = await signUp(t);
    const a = await t.gql(REFRESH, { token: s.refreshToken });
    // Past the 10 s reuse interval, without waiting for it.
    await t.admin`update auth.refresh_tokens set spent_at = now() - interval '11 seconds' where user_id = ${s.userId} and spent_at is not null`;
    const replay = await t.gql(REFRESH, { token: s.refreshToken });
    expect(codeOf(replay)).toBe('INVALID_REFRESH_TOKEN');
    expect(codeOf(await t.gql(REFRESH, { token: a.data!.refresh.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    expect(codeOf(await t.gql(ME, {}, a.data!.refresh.accessToken))).toBe('UNAUTHENTICATED');
  });

  it('keeps one live chain when one token is refreshed 20 times at once', async () => {
    const s = await signUp(t);
    const results = await Promise.all(Array.from({ length: 20 }, () => t.gql(REFRESH, { token: s.refreshToken })));
    expect(results.every((r) => r.status === 200 && !r.errors)).toBe(true);
    expect(new Set(results.map((r) => r.data!.refresh.refreshToken)).size).toBe(1);
    const live =
      await t.admin`select count(*)::int n from auth.refresh_tokens where user_id = ${s.userId} and spent_at is null`;
    expect(live[0]!.n).toBe(1);
  });

  it.each([
    ['an unknown token', 'A'.repeat(43)],
    ['garbage', 'not a token'],
    ['an access token', 'ACCESS'],
  ])('refuses %s with INVALID_REFRESH_TOKEN', async (_why, token) => {
    const s = await signUp(t);
    const res = await t.gql(REFRESH, { token: token === 'ACCESS' ? s.accessToken : token });
    expect(codeOf(res)).toBe('INVALID_REFRESH_TOKEN');
  });

  it('refuses an expired refresh token', async () => {
    const s = await signUp(t);
    await t.admin`update auth.refresh_tokens set expires_at = now() - interval '1 second' where user_id = ${s.userId}`;
    expect(codeOf(await t.gql(REFRESH, { token: s.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
  });
});

describe('signOut', () => {
  const SIGN_OUT = 'mutation SignOut($scope: SignOutScope) { signOut(scope: $scope) }';

  async function threeSessions() {
    const s = await signUp(t);
    const more = await Promise.all(
      [1, 2].map(async () => (await t.gql(SIGN_IN, { input: { email: s.email, password: PASSWORD } })).data!.signIn),
    );
    return [s, ...more] as Array<{ accessToken: string; refreshToken: string }>;
  }
  const works = async (x: { accessToken: string }) => (await t.gql(ME, {}, x.accessToken)).data?.me != null;

  it('LOCAL ends this session only, at once, with its refresh token', async () => {
    const [a, b, c] = await threeSessions();
    expect((await t.gql(SIGN_OUT, {}, a!.accessToken)).data).toEqual({ signOut: true });
    expect(codeOf(await t.gql(ME, {}, a!.accessToken))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { token: a!.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    expect(await works(b!)).toBe(true);
    expect(await works(c!)).toBe(true);
  });

  it('GLOBAL ends every session of the user', async () => {
    const [a, b, c] = await threeSessions();
    expect((await t.gql(SIGN_OUT, { scope: 'GLOBAL' }, b!.accessToken)).data).toEqual({ signOut: true });
    for (const x of [a!, b!, c!]) expect(codeOf(await t.gql(ME, {}, x.accessToken))).toBe('UNAUTHENTICATED');
  });

  it('OTHERS ends every session but this one', async () => {
    const [a, b, c] = await threeSessions();
    expect((await t.gql(SIGN_OUT, { scope: 'OTHERS' }, c!.accessToken)).data).toEqual({ signOut: true });
    expect(await works(c!)).toBe(true);
    for (const x of [a!, b!]) expect(codeOf(await t.gql(ME, {}, x.accessToken))).toBe('UNAUTHENTICATED');
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await t.gql(SIGN_OUT))).toBe('UNAUTHENTICATED');
  });
});
