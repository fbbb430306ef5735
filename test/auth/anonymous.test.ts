import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MailCatcher, startMailCatcher } from '../../src/mail/catcher.js';
import {
  codeOf,
  email,
  type GqlResponse,
  PASSWORD,
  REFRESH,
  SIGN_IN,
  startGateway,
  type TestGateway,
} from '../helpers.js';

/**
 * Anonymous sign-in: a real user with no email or password and is_anonymous in its
 * claims, upgraded in place by updateUser, and deleted by the periodic clean-up once older
 * than ANONYMOUS_USER_MAX_AGE_S unless it was upgraded.
 */

let catcher: MailCatcher;
/** ANONYMOUS_SIGN_IN off, the default. */
let off: TestGateway;
/** ANONYMOUS_SIGN_IN on, anonymous users kept 60 s. */
let on: TestGateway;
/**
 * ANONYMOUS_SIGN_IN on, REQUIRE_EMAIL_CONFIRMATION on, RATE_LIMIT_SIGNUP_IP_MAX=2, one
 * trusted proxy (the client IP from X-Forwarded-For, so each test uses its own).
 */
let strict: TestGateway;

beforeAll(async () => {
  catcher = await startMailCatcher();
  const mail = { SMTP_URL: catcher.url, MAIL_LINK_URL: 'http://app.example.test/auth/callback' };
  // One at a time: the first migration of a cluster creates its shared roles.
  off = await startGateway(mail);
  on = await startGateway({ ...mail, ANONYMOUS_SIGN_IN: 'true', ANONYMOUS_USER_MAX_AGE_S: '60' });
  strict = await startGateway({
    ...mail,
    ANONYMOUS_SIGN_IN: 'true',
    REQUIRE_EMAIL_CONFIRMATION: 'true',
    RATE_LIMIT_SIGNUP_IP_MAX: '2',
    TRUST_PROXY: '1',
  });
});
afterAll(async () => {
  await Promise.all([off?.close(), on?.close(), strict?.close()]);
  await catcher?.close();
});

const ANONYMOUS = /* GraphQL */ `
  mutation Anonymous($data: JSON) {
    signInAnonymously(data: $data) {
      accessToken refreshToken
      user { id email isAnonymous emailConfirmedAt profile { id fullName } }
    }
  }`;
const ME = 'query Me { me { id email isAnonymous emailConfirmedAt profile { id username fullName website } } }';
const UPDATE_PROFILE = /* GraphQL */ `
  mutation UpdateProfile($input: UpdateProfileInput!) {
    updateProfile(input: $input) { id username fullName website }
  }`;
const UPDATE_USER = /* GraphQL */ `
  mutation UpdateUser($input: UpdateUserInput!) {
    updateUser(input: $input) { id email isAnonymous userMetadata appMetadata }
  }`;

type Tokens = { accessToken: string; refreshToken: string; userId: string };

async function anonymous(gw: TestGateway, data?: Record<string, unknown>, ip?: string): Promise<Tokens> {
  const res = await gw.gql(ANONYMOUS, { data }, undefined, ip ? { 'x-forwarded-for': ip } : undefined);
  expect(res.errors).toBeUndefined();
  const p = res.data!.signInAnonymously;
  return { accessToken: p.accessToken, refreshToken: p.refreshToken, userId: p.user.id };
}

/** The caller's id, or the error code the request failed with. */
async function whoAmI(gw: TestGateway, accessToken: string): Promise<unknown> {
  const res = await gw.gql(ME, {}, accessToken);
  return res.errors ? codeOf(res) : res.data?.me?.id;
}

const count = async (gw: TestGateway, sql: string, id?: string): Promise<number> => {
  const [row] = await gw.admin.unsafe(`select count(*)::int as n from ${sql}`, id === undefined ? [] : [id]);
  return Number(row?.n);
};

const reasonOf = (res: GqlResponse): unknown => res.errors?.[0]?.extensions?.reason;

/** An anonymous user made permanent with an email and a password. */
async function upgrade(gw: TestGateway, s: Tokens, mail = email('upgraded')) {
  const res = await gw.gql(UPDATE_USER, { input: { email: mail, password: PASSWORD } }, s.accessToken);
  expect(res.errors).toBeUndefined();
  return { res, email: mail };
}

/** The email identity and the provider claims of a user, as a fresh token states them. */
async function providers(gw: TestGateway, s: Tokens) {
  const refreshed = await gw.gql(REFRESH, { token: s.refreshToken });
  expect(refreshed.errors).toBeUndefined();
  return {
    emailIdentities: await count(gw, "auth.identities where provider = 'email' and user_id = $1", s.userId),
    appMetadata: decodeJwt(refreshed.data!.refresh.accessToken).app_metadata,
  };
}

describe('anonymous sign-in turned off (the default)', () => {
  it('refuses with FORBIDDEN, reason ANONYMOUS_DISABLED, and creates nothing', async () => {
    const users = await count(off, 'auth.users');
    const res = await off.gql(ANONYMOUS, { data: { full_name: 'Nobody' } });
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(reasonOf(res)).toBe('ANONYMOUS_DISABLED');
    expect(res.data ?? null).toBeNull();
    expect(await count(off, 'auth.users')).toBe(users);
    expect(await count(off, 'auth.sessions')).toBe(0);
    expect(await count(off, 'public.profiles')).toBe(users);
  });
});

describe('anonymous sign-in turned on', () => {
  it('gives an anonymous user a session whose token says is_anonymous, and no email', async () => {
    const res = await on.gql(ANONYMOUS, { data: { full_name: 'Guest' } });
    expect(res.errors).toBeUndefined();
    const p = res.data!.signInAnonymously;
    expect(p.user).toMatchObject({ email: '', isAnonymous: true, emailConfirmedAt: null });
    expect(p.user.profile).toMatchObject({ id: p.user.id, fullName: 'Guest' });

    const claims = decodeJwt(p.accessToken);
    expect(claims).toMatchObject({ sub: p.user.id, role: 'authenticated', is_anonymous: true, email: '' });
    expect(claims.amr).toEqual([{ method: 'anonymous', timestamp: expect.any(Number) }]);

    const me = (await on.gql(ME, {}, p.accessToken)).data!.me;
    expect(me).toMatchObject({ id: p.user.id, email: '', isAnonymous: true });
    const [row] =
      await on.admin`select email, encrypted_password, is_anonymous from auth.users where id = ${p.user.id}`;
    expect(row).toEqual({ email: null, encrypted_password: null, is_anonymous: true });
  });

  it('upgrades in place with updateUser(email, password): same id and profile, no longer anonymous', async () => {
    const s = await anonymous(on, { full_name: 'Guest', theme: 'dark' });
    const username = `anon_${randomBytes(4).toString('hex')}`;
    // Row level security lets the anonymous user write its own profile.
    const prof = await on.gql(
      UPDATE_PROFILE,
      { input: { username, website: 'https://guest.example.test' } },
      s.accessToken,
    );
    expect(prof.errors).toBeUndefined();
    expect(prof.data!.updateProfile).toMatchObject({ id: s.userId, username, fullName: 'Guest' });

    const { res, email: mail } = await upgrade(on, s);
    expect(res.data!.updateUser).toMatchObject({
      id: s.userId,
      email: mail,
      isAnonymous: false,
      userMetadata: { full_name: 'Guest', theme: 'dark' },
    });

    // The same session goes on, now a permanent user with its profile.
    const me = (await on.gql(ME, {}, s.accessToken)).data!.me;
    expect(me).toMatchObject({
      id: s.userId,
      email: mail,
      isAnonymous: false,
      profile: { id: s.userId, username, fullName: 'Guest', website: 'https://guest.example.test' },
    });
    const refreshed = await on.gql(REFRESH, { token: s.refreshToken });
    expect(refreshed.errors).toBeUndefined();
    const claims = decodeJwt(refreshed.data!.refresh.accessToken);
    expect(claims).toMatchObject({ sub: s.userId, is_anonymous: false, email: mail });
    expect(claims.app_metadata).toMatchObject({ provider: 'email', providers: ['email'] });

    const signIn = await on.gql(SIGN_IN, { input: { email: mail, password: PASSWORD } });
    expect(signIn.errors).toBeUndefined();
    expect(signIn.data!.signIn.user.id).toBe(s.userId);
    expect(decodeJwt(signIn.data!.signIn.accessToken).is_anonymous).toBe(false);
    expect(await count(on, 'auth.users where is_anonymous and id = $1', s.userId)).toBe(0);
    expect(await count(on, "auth.identities where provider = 'email' and user_id = $1", s.userId)).toBe(1);
  });

  it('stays anonymous with only an email or only a password', async () => {
    const s = await anonymous(on);
    const mail = email('half');
    const withEmail = await on.gql(UPDATE_USER, { input: { email: mail } }, s.accessToken);
    expect(withEmail.data?.updateUser).toMatchObject({ id: s.userId, email: mail, isAnonymous: true });

    const t = await anonymous(on);
    const withPassword = await on.gql(UPDATE_USER, { input: { password: PASSWORD } }, t.accessToken);
    expect(withPassword.data?.updateUser).toMatchObject({ id: t.userId, email: '', isAnonymous: true });
  });
});

describe('clean-up of old anonymous users', () => {
  it('deletes anonymous users older than ANONYMOUS_USER_MAX_AGE_S with their profile; fresh and upgraded ones stay', async () => {
    const old = await anonymous(on, { full_name: 'Old guest' });
    const fresh = await anonymous(on);
    const upgraded = await anonymous(on);
    const { email: mail } = await upgrade(on, upgraded);
    // Both created two minutes ago, past the 60 s limit; only one is still anonymous.
    await on.admin`update auth.users set created_at = now() - interval '2 minutes'
                   where id in ${on.admin([old.userId, upgraded.userId])}`;
    expect(await whoAmI(on, old.accessToken)).toBe(old.userId);

    const { anonymousUsersDeleted } = await on.gateway.maintenance.run();
    expect(anonymousUsersDeleted).toBe(1);
    expect(await count(on, 'auth.users where id = $1', old.userId)).toBe(0);
    expect(await count(on, 'public.profiles where id = $1', old.userId)).toBe(0);
    expect(await count(on, 'auth.sessions where user_id = $1', old.userId)).toBe(0);
    expect(await whoAmI(on, old.accessToken)).toBe('UNAUTHENTICATED');
    expect(codeOf(await on.gql(REFRESH, { token: old.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');

    expect(await whoAmI(on, fresh.accessToken)).toBe(fresh.userId);
    expect(await whoAmI(on, upgraded.accessToken)).toBe(upgraded.userId);
    expect((await on.gql(SIGN_IN, { input: { email: mail, password: PASSWORD } })).errors).toBeUndefined();
    expect(await count(on, 'public.profiles where id = $1', upgraded.userId)).toBe(1);

    // Nothing more to do on a second run.
    expect((await on.gateway.maintenance.run()).anonymousUsersDeleted).toBe(0);
  });
});

describe('rate limit', () => {
  it('limits signInAnonymously per client IP by RATE_LIMIT_SIGNUP_IP_MAX', async () => {
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    const before = await count(strict, 'auth.users');
    for (let i = 0; i < 2; i++) {
      const ok = await strict.gql(ANONYMOUS, {}, undefined, from('203.0.113.7'));
      expect(ok.errors).toBeUndefined();
    }
    const refused = await strict.gql(ANONYMOUS, {}, undefined, from('203.0.113.7'));
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(refused.errors?.[0]?.extensions?.retryAfter).toEqual(expect.any(Number));
    expect(await count(strict, 'auth.users')).toBe(before + 2);

    // Another address has its own count.
    const other = await strict.gql(ANONYMOUS, {}, undefined, from('203.0.113.8'));
    expect(other.errors).toBeUndefined();
    expect(await count(strict, 'auth.users')).toBe(before + 3);
  });
});

/** An upgrade done in two calls, its answer, and the confirmation it mails when required. */
describe('upgrading in steps', () => {
  it('a password first, then an email: the now permanent user gets its email identity and provider', async () => {
    const s = await anonymous(on);
    expect((await on.gql(UPDATE_USER, { input: { password: PASSWORD } }, s.accessToken)).errors).toBeUndefined();
    const res = await on.gql(UPDATE_USER, { input: { email: email('twostep') } }, s.accessToken);
    expect(res.data?.updateUser.isAnonymous).toBe(false);
    expect(await providers(on, s)).toEqual({
      emailIdentities: 1,
      appMetadata: { provider: 'email', providers: ['email'] },
    });
  });

  it("updateUser's answer to an upgrade shows the new provider, as the next token does", async () => {
    const s = await anonymous(on);
    const { res } = await upgrade(on, s);
    expect((await providers(on, s)).appMetadata).toEqual({ provider: 'email', providers: ['email'] });
    expect(res.data!.updateUser.appMetadata).toEqual({ provider: 'email', providers: ['email'] });
  });

  it('with REQUIRE_EMAIL_CONFIRMATION, an upgrade leaves the address pending and mails a confirmation link to it', async () => {
    const s = await anonymous(strict, undefined, '198.51.100.20');
    const { email: mail } = await upgrade(strict, s);
    // Until confirmed, the address is not the account's: the password does not sign in with it.
    const early = await strict.gql(SIGN_IN, { input: { email: mail, password: PASSWORD } });
    expect(codeOf(early)).toBe('INVALID_CREDENTIALS');
    const me = await strict.gql('query { me { email pendingEmail isAnonymous } }', {}, s.accessToken);
    expect(me.data!.me).toEqual({ email: '', pendingEmail: mail, isAnonymous: true });
    await strict.gateway.mailer.idle();
    const mailed = catcher.messages.filter((m) => m.to.includes(mail));
    expect(mailed.map((m) => m.subject)).toEqual(['Confirm your email']);
  });
});
