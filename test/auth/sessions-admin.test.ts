import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  codeOf,
  email,
  type GqlResponse,
  ME,
  PASSWORD,
  REFRESH,
  type Session,
  SIGN_IN,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

/**
 * The tokens-and-sessions issue: sessions, self-service account changes and the service
 * role's admin fields, against a real gateway and a real Postgres. Rate limits are turned
 * off so the many sign-ins here measure the features, not the limiter.
 */

const NO_LIMITS = { RATE_LIMIT_SIGNUP_IP_MAX: '0', RATE_LIMIT_TOKEN_IP_MAX: '0', RATE_LIMIT_SIGNIN_EMAIL_MAX: '0' };

let t: TestGateway;
let service: string;
const logins: postgres.Sql[] = [];

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
  service = await t.gateway.tokens.signServiceRole(600);
});
afterAll(async () => {
  await Promise.all(logins.map((l) => l.end({ timeout: 5 })));
  await t?.close();
});

type Tokens = { accessToken: string; refreshToken: string };

const SESSIONS = 'query { sessions { id createdAt lastActiveAt userAgent ip current } }';
const REVOKE = 'mutation Revoke($id: ID!) { revokeSession(id: $id) }';
const UPDATE_USER = /* GraphQL */ `
  mutation UpdateUser($input: UpdateUserInput!) {
    updateUser(input: $input) { id email userMetadata appMetadata }
  }`;
const DELETE_ACCOUNT = 'mutation Del($password: String!) { deleteAccount(password: $password) }';
const USERS = /* GraphQL */ `
  query Users($first: Int, $after: String, $search: String) {
    users(first: $first, after: $after, search: $search) {
      edges { cursor node { id email createdAt profile { id username isPublic } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;
const USER = 'query User($id: ID!) { user(id: $id) { id email appMetadata userMetadata } }';
const ADMIN_UPDATE = /* GraphQL */ `
  mutation AdminUpdate($id: ID!, $input: AdminUpdateUserInput!) {
    adminUpdateUser(id: $id, input: $input) { id email appMetadata }
  }`;
const ADMIN_DELETE = 'mutation AdminDelete($id: ID!) { adminDeleteUser(id: $id) }';
const ADMIN_SIGN_OUT = 'mutation AdminSignOut($userId: ID!) { adminSignOut(userId: $userId) }';
const SIGN_OUT = 'mutation { signOut }';

const signIn = async (mail: string, password = PASSWORD, headers?: Record<string, string>, gw = t) =>
  gw.gql(SIGN_IN, { input: { email: mail, password } }, undefined, headers);

/** A new session of an existing user; fails the test when signIn does. */
async function newSession(mail: string, headers?: Record<string, string>): Promise<Tokens> {
  const res = await signIn(mail, PASSWORD, headers);
  expect(res.errors).toBeUndefined();
  return res.data!.signIn as Tokens;
}

const sessionId = (x: { accessToken: string }) => decodeJwt(x.accessToken).session_id as string;

/** The caller's id from `me`, or the error code the request failed with. */
async function whoAmI(x: { accessToken: string }, gw = t): Promise<unknown> {
  const res = await gw.gql(ME, {}, x.accessToken);
  return res.errors ? codeOf(res) : res.data?.me?.id;
}

const count = async (sql: string, ...args: unknown[]): Promise<number> => {
  const [row] = await t.admin.unsafe(sql, args as string[]);
  return Number(row?.n);
};

/** A connection as the gateway's own login role (neither superuser nor BYPASSRLS). */
async function loginRole(gw: TestGateway): Promise<postgres.Sql> {
  const sql = postgres(gw.gateway.loginUrl, { max: 1, connect_timeout: 5, idle_timeout: 5, onnotice: () => {} });
  logins.push(sql);
  return sql;
}

class Rollback extends Error {}

/** Runs `fn` in a transaction on `sql` after `setup`, always rolled back. */
async function inTx<T>(
  sql: postgres.Sql,
  setup: (q: postgres.TransactionSql) => Promise<unknown>,
  fn: (q: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  let out: T | undefined;
  try {
    await sql.begin(async (q) => {
      await setup(q);
      out = await fn(q);
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return out as T;
}

describe('sessions', () => {
  it("lists the caller's sessions with exactly the request's own one marked current", async () => {
    const s = await signUp(t);
    // End the sign-up session so the user has exactly the three below.
    expect((await t.gql(SIGN_OUT, {}, s.accessToken)).data).toEqual({ signOut: true });
    const ua = `sessions-test/${randomBytes(3).toString('hex')}`;
    const three = [];
    for (let i = 0; i < 3; i++) three.push(await newSession(s.email, { 'user-agent': ua }));
    const stranger = await signUp(t);

    const res = await t.gql(SESSIONS, {}, three[1]!.accessToken);
    expect(res.errors).toBeUndefined();
    const list = res.data!.sessions as Array<Record<string, any>>;
    expect(list).toHaveLength(3);
    expect(new Set(list.map((x) => x.id))).toEqual(new Set(three.map(sessionId)));
    expect(list.map((x) => x.id)).not.toContain(sessionId(stranger));
    const current = list.filter((x) => x.current);
    expect(current).toHaveLength(1);
    expect(current[0]!.id).toBe(decodeJwt(three[1]!.accessToken).session_id);
    for (const x of list) {
      expect(x.userAgent).toBe(ua);
      expect(x.ip).toContain('127.0.0.1');
      expect(Number.isNaN(Date.parse(x.createdAt))).toBe(false);
    }

    // Another of the three sees the same list, with its own session current.
    const other = await t.gql(SESSIONS, {}, three[2]!.accessToken);
    const otherCurrent = (other.data!.sessions as Array<{ id: string; current: boolean }>).filter((x) => x.current);
    expect(otherCurrent.map((x) => x.id)).toEqual([sessionId(three[2]!)]);
  });

  it('refuses an anonymous caller with UNAUTHENTICATED', async () => {
    const res = await t.gql(SESSIONS);
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    expect(res.data ?? null).toBeNull();
  });
});

describe('revokeSession', () => {
  it('ends that session at once: its access token and its refresh token stop working', async () => {
    const s = await signUp(t);
    const second = await newSession(s.email);
    const res = await t.gql(REVOKE, { id: sessionId(second) }, s.accessToken);
    expect(res.data).toEqual({ revokeSession: true });
    expect(codeOf(await t.gql(ME, {}, second.accessToken))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { token: second.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    // The caller's own session is untouched, and the revoked one is gone from its list.
    expect(await whoAmI(s)).toBe(s.userId);
    const list = await t.gql(SESSIONS, {}, s.accessToken);
    expect((list.data!.sessions as Array<{ id: string }>).map((x) => x.id)).toEqual([sessionId(s)]);
  });

  it("answers false for another user's session and leaves that session working", async () => {
    const a = await signUp(t);
    const b = await signUp(t);
    expect((await t.gql(REVOKE, { id: sessionId(b) }, a.accessToken)).data).toEqual({ revokeSession: false });
    expect((await t.gql(REVOKE, { id: randomUUID() }, a.accessToken)).data).toEqual({ revokeSession: false });
    expect(await whoAmI(b)).toBe(b.userId);
    const r = await t.gql(REFRESH, { token: b.refreshToken });
    expect(r.errors).toBeUndefined();
    expect(sessionId(r.data!.refresh)).toBe(sessionId(b));
  });

  it('refuses an id that is not a uuid with BAD_USER_INPUT', async () => {
    const s = await signUp(t);
    expect(codeOf(await t.gql(REVOKE, { id: 'not-a-uuid' }, s.accessToken))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(REVOKE, { id: "x' or '1'='1" }, s.accessToken))).toBe('BAD_USER_INPUT');
    expect(await whoAmI(s)).toBe(s.userId);
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await t.gql(REVOKE, { id: randomUUID() }))).toBe('UNAUTHENTICATED');
  });
});

describe('updateUser', () => {
  it('merges data into user_metadata, keeping other keys, and the next token carries the merge', async () => {
    const username = `u_${randomBytes(5).toString('hex')}`;
    const s = await signUp(t, { username, theme: 'dark', nested: { a: 1 } });
    const res = await t.gql(UPDATE_USER, { input: { data: { theme: 'light', lang: 'en' } } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    const merged = { username, theme: 'light', lang: 'en', nested: { a: 1 } };
    expect(res.data!.updateUser.userMetadata).toEqual(merged);
    expect((await t.gql(ME, {}, s.accessToken)).data!.me.userMetadata).toEqual(merged);

    const r = await t.gql(REFRESH, { token: s.refreshToken });
    expect(r.errors).toBeUndefined();
    expect(decodeJwt(r.data!.refresh.accessToken).user_metadata).toEqual(merged);
  });

  describe('changing the password', () => {
    it('needs currentPassword (BAD_USER_INPUT) and leaves the password as it was', async () => {
      const s = await signUp(t);
      const res = await t.gql(UPDATE_USER, { input: { password: 'a brand new password' } }, s.accessToken);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect((await signIn(s.email)).errors).toBeUndefined();
      expect(codeOf(await signIn(s.email, 'a brand new password'))).toBe('INVALID_CREDENTIALS');
    });

    it('refuses a wrong currentPassword with INVALID_CREDENTIALS and keeps the other sessions', async () => {
      const s = await signUp(t);
      const other = await newSession(s.email);
      const res = await t.gql(
        UPDATE_USER,
        { input: { password: 'a brand new password', currentPassword: 'not the password' } },
        s.accessToken,
      );
      expect(codeOf(res)).toBe('INVALID_CREDENTIALS');
      expect(await whoAmI(other)).toBe(s.userId);
      expect((await signIn(s.email)).errors).toBeUndefined();
    });

    it('refuses a too short new password with WEAK_PASSWORD', async () => {
      const s = await signUp(t);
      const res = await t.gql(UPDATE_USER, { input: { password: 'short', currentPassword: PASSWORD } }, s.accessToken);
      expect(codeOf(res)).toBe('WEAK_PASSWORD');
      expect((await signIn(s.email)).errors).toBeUndefined();
    });

    it('with the right currentPassword: changes it and ends every other session, not this one', async () => {
      const s = await signUp(t);
      const others = [await newSession(s.email), await newSession(s.email)];
      const current = await newSession(s.email);
      const next = 'an entirely new passphrase';
      const res = await t.gql(
        UPDATE_USER,
        { input: { password: next, currentPassword: PASSWORD } },
        current.accessToken,
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateUser.id).toBe(s.userId);

      for (const o of [s, ...others]) {
        expect(await whoAmI(o)).toBe('UNAUTHENTICATED');
        expect(codeOf(await t.gql(REFRESH, { token: o.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
      }
      expect(await whoAmI(current)).toBe(s.userId);
      const list = await t.gql(SESSIONS, {}, current.accessToken);
      expect((list.data!.sessions as Array<{ id: string }>).map((x) => x.id)).toEqual([sessionId(current)]);

      expect(codeOf(await signIn(s.email, PASSWORD))).toBe('INVALID_CREDENTIALS');
      const fresh = await signIn(s.email, next);
      expect(fresh.errors).toBeUndefined();
      expect(fresh.data!.signIn.user.id).toBe(s.userId);
    });
  });

  describe('changing the email', () => {
    it("refuses another account's email in any case with EMAIL_TAKEN", async () => {
      const a = await signUp(t);
      const b = await signUp(t);
      const res = await t.gql(UPDATE_USER, { input: { email: ` ${b.email.toUpperCase()} ` } }, a.accessToken);
      expect(codeOf(res)).toBe('EMAIL_TAKEN');
      expect((await t.gql(ME, {}, a.accessToken)).data!.me.email).toBe(a.email);
      expect((await signIn(a.email)).data!.signIn.user.id).toBe(a.userId);
      expect((await signIn(b.email)).data!.signIn.user.id).toBe(b.userId);
    });

    it('keeps the account on its address until the change is proven by mail: the new one is only pending', async () => {
      const s = await signUp(t);
      const fresh = email('moved');
      const res = await t.gql(
        'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id email pendingEmail } }',
        { input: { email: fresh.toUpperCase() } },
        s.accessToken,
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.updateUser).toMatchObject({ email: s.email, pendingEmail: fresh });
      expect((await t.gql(ME, {}, s.accessToken)).data!.me.email).toBe(s.email);
      expect(codeOf(await signIn(fresh))).toBe('INVALID_CREDENTIALS');
      expect((await signIn(s.email)).data!.signIn.user.id).toBe(s.userId);
      // The pending address holds nothing: its owner can still sign up with it.
      expect((await signUp(t, undefined, fresh)).userId).not.toBe(s.userId);
    });
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await t.gql(UPDATE_USER, { input: { data: { a: 1 } } }))).toBe('UNAUTHENTICATED');
  });
});

describe('deleteAccount', () => {
  const rowsOf = async (id: string) => ({
    users: await count('select count(*) n from auth.users where id = $1', id),
    profiles: await count('select count(*) n from public.profiles where id = $1', id),
    identities: await count('select count(*) n from auth.identities where user_id = $1', id),
    sessions: await count('select count(*) n from auth.sessions where user_id = $1', id),
    refreshTokens: await count('select count(*) n from auth.refresh_tokens where user_id = $1', id),
  });

  it('refuses a wrong password with INVALID_CREDENTIALS and deletes nothing', async () => {
    const s = await signUp(t);
    const before = await rowsOf(s.userId);
    expect(before).toEqual({ users: 1, profiles: 1, identities: 1, sessions: 1, refreshTokens: 1 });
    const res = await t.gql(DELETE_ACCOUNT, { password: 'not the password' }, s.accessToken);
    expect(codeOf(res)).toBe('INVALID_CREDENTIALS');
    expect(await rowsOf(s.userId)).toEqual(before);
    expect(await whoAmI(s)).toBe(s.userId);
  });

  it('with the right password deletes the user with profile, sessions and tokens', async () => {
    const s = await signUp(t, { username: `del_${randomBytes(4).toString('hex')}` });
    const other = await newSession(s.email);
    const bystander = await signUp(t);
    const res = await t.gql(DELETE_ACCOUNT, { password: PASSWORD }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ deleteAccount: true });
    expect(await whoAmI(s)).toBe('UNAUTHENTICATED');
    expect(await whoAmI(other)).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { token: other.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    expect(await rowsOf(s.userId)).toEqual({ users: 0, profiles: 0, identities: 0, sessions: 0, refreshTokens: 0 });
    expect(codeOf(await signIn(s.email))).toBe('INVALID_CREDENTIALS');
    expect(await whoAmI(bystander)).toBe(bystander.userId);
  });

  it('needs a signed-in caller', async () => {
    expect(codeOf(await t.gql(DELETE_ACCOUNT, { password: PASSWORD }))).toBe('UNAUTHENTICATED');
  });
});

describe('admin fields', () => {
  const adminCalls = (id: string): Array<[string, string, Record<string, unknown>]> => [
    ['users', 'query { users(first: 5) { edges { node { id email } } } }', {}],
    ['user', USER, { id }],
    ['adminUpdateUser', ADMIN_UPDATE, { id, input: { appMetadata: { role: 'admin' } } }],
    ['adminDeleteUser', ADMIN_DELETE, { id }],
    ['adminSignOut', ADMIN_SIGN_OUT, { userId: id }],
  ];

  it.each([
    ['anon', false],
    ['an ordinary signed-in user', true],
  ])('are FORBIDDEN for %s and change nothing', async (_who, signedIn) => {
    const target = await signUp(t);
    const caller = signedIn ? await signUp(t) : null;
    for (const [field, query, vars] of adminCalls(target.userId)) {
      const res = await t.gql(query, vars, caller?.accessToken);
      expect(codeOf(res), field).toBe('FORBIDDEN');
      expect(JSON.stringify(res.data ?? null), field).not.toContain(target.email);
    }
    // The target survived every attempt: still there, session live, app_metadata as issued.
    expect(await whoAmI(target)).toBe(target.userId);
    const [row] = await t.admin`select raw_app_meta_data from auth.users where id = ${target.userId}`;
    expect(row?.raw_app_meta_data).toEqual({ provider: 'email', providers: ['email'] });
  });

  it('stay FORBIDDEN for a user whose app_metadata says service_role', async () => {
    // A user token is never a service token, whatever its app_metadata says.
    const s = await signUp(t);
    await t.gql(ADMIN_UPDATE, { id: s.userId, input: { appMetadata: { role: 'service_role' } } }, service);
    const r = await t.gql(REFRESH, { token: s.refreshToken });
    const token = r.data!.refresh.accessToken as string;
    expect((decodeJwt(token).app_metadata as Record<string, unknown>).role).toBe('service_role');
    expect(codeOf(await t.gql(USER, { id: s.userId }, token))).toBe('FORBIDDEN');
  });

  describe('with the service-role token', () => {
    const tag = `Pg${randomBytes(4).toString('hex')}`;
    const made: Session[] = [];
    let outsider: Session;

    beforeAll(async () => {
      // Created one after another, so their created_at order is their creation order.
      for (let i = 0; i < 5; i++) {
        made.push(
          await signUp(
            t,
            { username: `${tag}_${i}` },
            `${tag.toLowerCase()}.${i}.${randomBytes(2).toString('hex')}@example.com`,
          ),
        );
      }
      const priv = await t.gql(
        'mutation { updateProfile(input: { isPublic: false }) { isPublic } }',
        {},
        made[2]!.accessToken,
      );
      if (priv.data?.updateProfile?.isPublic !== false) throw new Error(`setup: ${JSON.stringify(priv)}`);
      outsider = await signUp(t);
    });

    it('users pages newest first with working cursors', async () => {
      const pages: Array<Record<string, any>> = [];
      let after: string | null = null;
      for (let i = 0; i < 5 && (i === 0 || pages.at(-1)!.pageInfo.hasNextPage); i++) {
        const res: GqlResponse = await t.gql(USERS, { first: 2, after, search: tag }, service);
        expect(res.errors).toBeUndefined();
        pages.push(res.data!.users);
        after = res.data!.users.pageInfo.endCursor;
      }
      expect(pages.map((p) => p.edges.length)).toEqual([2, 2, 1]);
      expect(pages.map((p) => p.pageInfo.hasNextPage)).toEqual([true, true, false]);
      expect(pages.map((p) => p.pageInfo.hasPreviousPage)).toEqual([false, true, true]);
      for (const p of pages) {
        expect(p.pageInfo.startCursor).toBe(p.edges[0].cursor);
        expect(p.pageInfo.endCursor).toBe(p.edges.at(-1).cursor);
      }
      const ids = pages.flatMap((p) => p.edges.map((e: any) => e.node.id));
      expect(ids).toEqual([...made].reverse().map((s) => s.userId));

      // Without a search the newest account of all comes first, and created_at never rises.
      const all = await t.gql(USERS, { first: 100 }, service);
      expect(all.errors).toBeUndefined();
      const nodes = all.data!.users.edges.map((e: any) => e.node);
      expect(nodes[0].id).toBe(outsider.userId);
      const times = nodes.map((n: any) => Date.parse(n.createdAt));
      expect(times).toEqual([...times].sort((x, y) => y - x));
    });

    it('users refuses a malformed cursor and a first outside 1..100 with BAD_USER_INPUT', async () => {
      expect(codeOf(await t.gql(USERS, { first: 2, after: 'garbage' }, service))).toBe('BAD_USER_INPUT');
      expect(codeOf(await t.gql(USERS, { first: 0 }, service))).toBe('BAD_USER_INPUT');
      expect(codeOf(await t.gql(USERS, { first: 101 }, service))).toBe('BAD_USER_INPUT');
    });

    it('users search matches email substrings case-insensitively, wildcards literally', async () => {
      const upper = await t.gql(USERS, { first: 100, search: tag.toUpperCase() }, service);
      expect(upper.errors).toBeUndefined();
      const ids = upper.data!.users.edges.map((e: any) => e.node.id);
      expect(new Set(ids)).toEqual(new Set(made.map((s) => s.userId)));
      expect(ids).not.toContain(outsider.userId);

      const one = await t.gql(USERS, { first: 100, search: `${tag.toUpperCase()}.3.` }, service);
      expect(one.data!.users.edges.map((e: any) => e.node.id)).toEqual([made[3]!.userId]);

      for (const search of ['%', '_', `${tag}_`]) {
        const res = await t.gql(USERS, { first: 100, search }, service);
        expect(res.errors, search).toBeUndefined();
        expect(res.data!.users.edges, search).toEqual([]);
      }
    });

    it('users shows profiles, private ones too (the service role bypasses RLS)', async () => {
      const res = await t.gql(USERS, { first: 100, search: tag }, service);
      expect(res.errors).toBeUndefined();
      const byId = new Map(res.data!.users.edges.map((e: any) => [e.node.id, e.node.profile]));
      made.forEach((s, i) => {
        expect(byId.get(s.userId)).toEqual({ id: s.userId, username: `${tag}_${i}`, isPublic: i !== 2 });
      });
      // The private one really is hidden from others.
      const seen = await t.gql(
        'query P($id: ID) { profile(id: $id) { id } }',
        { id: made[2]!.userId },
        outsider.accessToken,
      );
      expect(seen.errors).toBeUndefined();
      expect(seen.data!.profile).toBeNull();
    });

    it('user(id) returns the user, null for an unknown id; me is null for the service role', async () => {
      const res = await t.gql(USER, { id: made[1]!.userId }, service);
      expect(res.errors).toBeUndefined();
      expect(res.data!.user).toMatchObject({
        id: made[1]!.userId,
        email: made[1]!.email,
        appMetadata: { provider: 'email', providers: ['email'] },
        userMetadata: { username: `${tag}_1` },
      });
      expect((await t.gql(USER, { id: randomUUID() }, service)).data).toEqual({ user: null });
      const me = await t.gql(ME, {}, service);
      expect(me.errors).toBeUndefined();
      expect(me.data).toEqual({ me: null });
    });
  });
});

describe('bans', () => {
  it("ends the user's live tokens and refuses signIn with FORBIDDEN until lifted", async () => {
    const s = await signUp(t);
    const until = new Date(Date.now() + 3600_000).toISOString();
    const ban = await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: until } }, service);
    expect(ban.errors).toBeUndefined();
    expect(ban.data!.adminUpdateUser.id).toBe(s.userId);

    expect(await whoAmI(s)).toBe('UNAUTHENTICATED');
    expect(codeOf(await signIn(s.email))).toBe('FORBIDDEN');
    expect(codeOf(await signIn(s.email, 'not the password'))).toBe('INVALID_CREDENTIALS');

    const lift = await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: null } }, service);
    expect(lift.errors).toBeUndefined();
    const again = await signIn(s.email);
    expect(again.errors).toBeUndefined();
    expect(await whoAmI(again.data!.signIn)).toBe(s.userId);
  });

  it('a ban that has already run out does not hold', async () => {
    const s = await signUp(t);
    const past = new Date(Date.now() - 60_000).toISOString();
    expect((await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: past } }, service)).errors).toBeUndefined();
    expect(await whoAmI(s)).toBe(s.userId);
    expect((await signIn(s.email)).errors).toBeUndefined();
  });
});

describe('app_metadata', () => {
  it('adminUpdateUser merges appMetadata, and the next tokens carry it', async () => {
    const s = await signUp(t);
    const res = await t.gql(ADMIN_UPDATE, { id: s.userId, input: { appMetadata: { role: 'admin' } } }, service);
    expect(res.errors).toBeUndefined();
    const expected = { provider: 'email', providers: ['email'], role: 'admin' };
    expect(res.data!.adminUpdateUser.appMetadata).toEqual(expected);

    const r = await t.gql(REFRESH, { token: s.refreshToken });
    expect(r.errors).toBeUndefined();
    expect(decodeJwt(r.data!.refresh.accessToken).app_metadata).toEqual(expected);
    const fresh = await newSession(s.email);
    expect(decodeJwt(fresh.accessToken).app_metadata).toEqual(expected);
    expect((await t.gql(ME, {}, fresh.accessToken)).data!.me.appMetadata).toEqual(expected);
  });

  it("lets a policy on auth.jwt() -> 'app_metadata' ->> 'role' tell admins apart", async () => {
    await t.admin.unsafe(`
      create table public.admin_notes (id serial primary key, body text);
      alter table public.admin_notes enable row level security;
      alter table public.admin_notes force row level security;
      create policy admin_notes_select on public.admin_notes for select to authenticated
        using ((auth.jwt() -> 'app_metadata' ->> 'role') = 'admin');
      grant select on public.admin_notes to authenticated;
      insert into public.admin_notes (body) values ('for admins only');
    `);
    const boss = await signUp(t);
    const plain = await signUp(t);
    await t.gql(ADMIN_UPDATE, { id: boss.userId, input: { appMetadata: { role: 'admin' } } }, service);
    const r = await t.gql(REFRESH, { token: boss.refreshToken });
    expect(r.errors).toBeUndefined();
    const bossClaims = decodeJwt(r.data!.refresh.accessToken);
    expect((bossClaims.app_metadata as Record<string, unknown>).role).toBe('admin');

    const login = await loginRole(t);
    const asClaims = (claims: unknown) =>
      inTx(
        login,
        (q) => q`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
                        set_config('role', 'authenticated', true)`,
        (q) => q<{ body: string }[]>`select body from public.admin_notes`,
      );
    expect((await asClaims(bossClaims)).map((x) => x.body)).toEqual(['for admins only']);
    expect(await asClaims(decodeJwt(plain.accessToken))).toHaveLength(0);
    // The boss's token from before the change still says what it said then.
    expect(await asClaims(decodeJwt(boss.accessToken))).toHaveLength(0);
  });

  it('a null value removes an app_metadata key', async () => {
    const s = await signUp(t);
    await t.gql(ADMIN_UPDATE, { id: s.userId, input: { appMetadata: { role: 'admin', tier: 'gold' } } }, service);
    const res = await t.gql(ADMIN_UPDATE, { id: s.userId, input: { appMetadata: { role: null } } }, service);
    expect(res.errors).toBeUndefined();
    expect(res.data!.adminUpdateUser.appMetadata).toEqual({ provider: 'email', providers: ['email'], tier: 'gold' });
  });
});

describe('adminDeleteUser and adminSignOut', () => {
  it('adminDeleteUser deletes the user at once, then answers false', async () => {
    const s = await signUp(t);
    const bystander = await signUp(t);
    const res = await t.gql(ADMIN_DELETE, { id: s.userId }, service);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ adminDeleteUser: true });
    expect(await whoAmI(s)).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(REFRESH, { token: s.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    expect(await count('select count(*) n from auth.users where id = $1', s.userId)).toBe(0);
    expect(await count('select count(*) n from public.profiles where id = $1', s.userId)).toBe(0);
    expect((await t.gql(ADMIN_DELETE, { id: s.userId }, service)).data).toEqual({ adminDeleteUser: false });
    expect(await whoAmI(bystander)).toBe(bystander.userId);
  });

  it("adminSignOut ends every one of the user's sessions, and only theirs", async () => {
    const s = await signUp(t);
    const all: Tokens[] = [s, await newSession(s.email), await newSession(s.email)];
    const bystander = await signUp(t);
    const res = await t.gql(ADMIN_SIGN_OUT, { userId: s.userId }, service);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ adminSignOut: true });
    for (const x of all) {
      expect(await whoAmI(x)).toBe('UNAUTHENTICATED');
      expect(codeOf(await t.gql(REFRESH, { token: x.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    }
    expect(await whoAmI(bystander)).toBe(bystander.userId);
    // Not a ban: the user can sign in again.
    expect(await whoAmI(await newSession(s.email))).toBe(s.userId);
  });

  it('refuses an id that is not a uuid with BAD_USER_INPUT', async () => {
    expect(codeOf(await t.gql(ADMIN_DELETE, { id: 'nope' }, service))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql(ADMIN_SIGN_OUT, { userId: 'nope' }, service))).toBe('BAD_USER_INPUT');
  });
});

describe('claims settings', () => {
  /** The statements the app pool sent for one request. */
  async function statementsOf(gw: TestGateway, token: string): Promise<string[]> {
    gw.queries.length = 0;
    const res = await gw.gql(ME, {}, token);
    expect(res.errors).toBeUndefined();
    // BEGIN goes first; the identity statement is the first one that sets anything.
    return gw.queries.filter((q) => q.includes('set_config('));
  }
  const setConfigs = (q: string) => q.match(/set_config\(/g)?.length ?? 0;

  it('by default the first statement sets request.jwt.claims and role only', async () => {
    const s = await signUp(t);
    const [first] = await statementsOf(t, s.accessToken);
    expect(first).toContain("set_config('request.jwt.claims'");
    expect(first).toContain("set_config('role'");
    expect(first).not.toContain('jwt.claims.');
    expect(setConfigs(first!)).toBe(2);
  });

  describe('with PG_SETTINGS_POSTGRAPHILE=true', () => {
    let t2: TestGateway;
    let a: Session;
    let b: Session;

    beforeAll(async () => {
      t2 = await startGateway({ ...NO_LIMITS, PG_SETTINGS_POSTGRAPHILE: 'true' });
      a = await signUp(t2);
      b = await signUp(t2);
    });
    afterAll(async () => {
      await t2?.close();
    });

    it('the first statement also sets one jwt.claims.<claim> per claim', async () => {
      const [first] = await statementsOf(t2, a.accessToken);
      expect(first).toContain("set_config('request.jwt.claims'");
      expect(first).toContain("set_config('role'");
      const claimCount = Object.keys(decodeJwt(a.accessToken)).length;
      expect(claimCount).toBeGreaterThan(5);
      expect(setConfigs(first!)).toBe(2 + claimCount);
    });

    it('a policy on current_setting(jwt.claims.sub) works for the login role', async () => {
      await t2.admin.unsafe(`
        create table public.pg_notes (owner uuid, body text);
        alter table public.pg_notes enable row level security;
        alter table public.pg_notes force row level security;
        create policy pg_notes_owner on public.pg_notes for select to authenticated
          using (current_setting('jwt.claims.sub', true)::uuid = owner);
        grant select on public.pg_notes to authenticated;
      `);
      await t2.admin`insert into public.pg_notes (owner, body) values (${a.userId}, 'a note of A')`;
      const login = await loginRole(t2);
      const asSub = (sub: string) =>
        inTx(
          login,
          (q) => q`select set_config('jwt.claims.sub', ${sub}, true), set_config('role', 'authenticated', true)`,
          (q) => q<{ body: string }[]>`select body from public.pg_notes`,
        );
      expect((await asSub(a.userId)).map((x) => x.body)).toEqual(['a note of A']);
      expect(await asSub(b.userId)).toHaveLength(0);
    });

    it('the gateway sets jwt.claims.sub and JSON jwt.claims.app_metadata for real requests', async () => {
      // Observable through GraphQL: a restrictive policy on profiles that only holds when the
      // gateway set jwt.claims.sub to the caller and jwt.claims.app_metadata to its JSON.
      await t2.admin.unsafe(`
        create policy pg_settings_only on public.profiles as restrictive for select to authenticated
          using (nullif(current_setting('jwt.claims.sub', true), '')::uuid = id
                 and (nullif(current_setting('jwt.claims.app_metadata', true), '')::jsonb ->> 'provider') = 'email');
      `);
      const PROFILES = 'query { profiles(first: 100) { edges { node { id } } } }';
      for (const s of [a, b]) {
        const res = await t2.gql(PROFILES, {}, s.accessToken);
        expect(res.errors).toBeUndefined();
        expect(res.data!.profiles.edges.map((e: any) => e.node.id)).toEqual([s.userId]);
      }
    });
  });
});
