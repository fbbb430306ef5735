import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  codeOf,
  type GqlResponse,
  inTx,
  loginConnections,
  ME,
  REFRESH,
  type Session,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';
import { ADMIN_UPDATE, NO_LIMITS, type Tokens, usersOf } from './support.js';

/**
 * The service role's admin fields: refused to everyone else; users, user, adminUpdateUser
 * (app_metadata), adminDeleteUser and adminSignOut with the service-role token.
 */

let t: TestGateway;
let service: string;
const logins = loginConnections();
const loginRole = logins.open;

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
  service = await t.gateway.tokens.signServiceRole(600);
});
afterAll(async () => {
  await logins.end();
  await t?.close();
});

const USERS = /* GraphQL */ `
  query Users($first: Int, $after: String, $search: String) {
    users(first: $first, after: $after, search: $search) {
      edges { cursor node { id email createdAt profile { id username isPublic } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;
const USER = 'query User($id: ID!) { user(id: $id) { id email appMetadata userMetadata } }';
const ADMIN_DELETE = 'mutation AdminDelete($id: ID!) { adminDeleteUser(id: $id) }';
const ADMIN_SIGN_OUT = 'mutation AdminSignOut($userId: ID!) { adminSignOut(userId: $userId) }';

const { newSession, whoAmI, count } = usersOf(() => t);

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
