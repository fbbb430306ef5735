import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ME, type Session, signUp, startGateway, type TestGateway } from '../helpers.js';

/**
 * Row level security proven in Postgres itself: these statements run on the gateway's own
 * login role, with the same two settings the gateway makes per request, so nothing here
 * depends on the resolvers filtering rows.
 */

let t: TestGateway;
/** The gateway's login role, one connection so that settings left behind would show. */
let login: postgres.Sql;
let loginUrl: string;
let role: string;
let a: Session;
let b: Session;

type Claims = Record<string, unknown> & { role: string };

class Rollback extends Error {}

/**
 * Runs `fn` in a transaction that is set up exactly like a gateway request (claims, then
 * role, both transaction-local) and always rolled back, so checks do not leak into each other.
 */
async function as<T>(claims: Claims | null, role: string, fn: (q: postgres.TransactionSql) => Promise<T>): Promise<T> {
  let out: T | undefined;
  try {
    await login.begin(async (q) => {
      await q`select set_config('request.jwt.claims', ${claims ? JSON.stringify(claims) : ''}, true),
                     set_config('role', ${role}, true)`;
      out = await fn(q);
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return out as T;
}

const user = (s: Session): Claims => ({ sub: s.userId, role: 'authenticated' });
const anon: Claims = { role: 'anon' };

/** Rejects with the SQLSTATE of insufficient_privilege (42501). */
const denied = (p: Promise<unknown>) => expect(p).rejects.toMatchObject({ code: '42501' });

beforeAll(async () => {
  t = await startGateway();
  a = await signUp(t, { full_name: 'Alice A' });
  b = await signUp(t, { full_name: 'Bob B' });
  const priv = await t.gql('mutation { updateProfile(input: { isPublic: false }) { id isPublic } }', {}, b.accessToken);
  if (priv.data?.updateProfile?.isPublic !== false) throw new Error(`setup: ${JSON.stringify(priv)}`);

  loginUrl = t.gateway.loginUrl;
  role = new URL(loginUrl).username;
  login = postgres(loginUrl, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'authgate-rls-test' },
  });
});

afterAll(async () => {
  await login?.end({ timeout: 5 });
  await t?.close();
});

describe('the login role', () => {
  it('is neither superuser nor BYPASSRLS, and cannot read profiles before switching role', async () => {
    const [r] = await t.admin`
      select rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = ${role}`;
    expect(r).toEqual({ rolsuper: false, rolbypassrls: false, rolcanlogin: true });
    expect(role).toMatch(/^authgate_login_/);
    const [who] = await login`select current_user as u, session_user as s`;
    expect(who).toEqual({ u: role, s: role });
    await denied(login`select id from public.profiles`);
    await denied(login`select id from auth.users`);
  });

  it('is the role of every live gateway connection to this database', async () => {
    // One request on each pool, so both have a connection open.
    await signUp(t);
    expect((await t.gql(ME, {}, a.accessToken)).data?.me?.id).toBe(a.userId);
    const rows = await t.admin<{ usename: string; application_name: string }[]>`
      select usename, application_name from pg_stat_activity
      where datname = current_database() and application_name in ('authgate', 'authgate-auth')`;
    expect(new Set(rows.map((r) => r.application_name))).toEqual(new Set(['authgate', 'authgate-auth']));
    // The request pool logs in as the login role; the auth pool as its sibling that inherits authgate_auth.
    for (const r of rows) expect(r.usename).toBe(r.application_name === 'authgate' ? role : `${role}_auth`);
    const [auth] = await t.admin`select rolsuper, rolbypassrls from pg_roles where rolname = ${`${role}_auth`}`;
    expect(auth).toEqual({ rolsuper: false, rolbypassrls: false });
  });

  it('anon and authenticated exist and cannot log in', async () => {
    const rows = await t.admin<{ rolname: string; rolcanlogin: boolean; rolbypassrls: boolean }[]>`
      select rolname, rolcanlogin, rolbypassrls from pg_roles where rolname in ('anon', 'authenticated') order by rolname`;
    expect(rows).toEqual([
      { rolname: 'anon', rolcanlogin: false, rolbypassrls: false },
      { rolname: 'authenticated', rolcanlogin: false, rolbypassrls: false },
    ]);
  });

  it('keeps nothing of a request once its transaction ends', async () => {
    await as(user(a), 'authenticated', async (q) => {
      const [r] = await q`select current_user as u, auth.uid() as uid`;
      expect(r).toEqual({ u: 'authenticated', uid: a.userId });
    });
    const [after] = await login`select current_user as u, auth.uid() as uid, auth.jwt() as jwt`;
    expect(after).toEqual({ u: role, uid: null, jwt: null });
  });
});

describe('public.profiles', () => {
  it('has row level security enabled and forced', async () => {
    const [r] = await t.admin`
      select relrowsecurity, relforcerowsecurity from pg_class where oid = 'public.profiles'::regclass`;
    expect(r).toEqual({ relrowsecurity: true, relforcerowsecurity: true });
  });

  describe('as an authenticated user', () => {
    it("hides another user's private profile", async () => {
      const rows = await as(user(a), 'authenticated', (q) => q`select id from public.profiles where id = ${b.userId}`);
      expect(rows).toHaveLength(0);
      // It is there: the owner sees it.
      const own = await as(
        user(b),
        'authenticated',
        (q) => q`select is_public from public.profiles where id = ${b.userId}`,
      );
      expect(own).toEqual([{ is_public: false }]);
    });

    it('sees public profiles of others and never a private one but its own', async () => {
      const rows = await as(
        user(a),
        'authenticated',
        (q) => q<{ id: string; is_public: boolean }[]>`
        select id, is_public from public.profiles`,
      );
      expect(rows.map((r) => r.id)).toContain(a.userId);
      expect(rows.map((r) => r.id)).not.toContain(b.userId);
      expect(rows.filter((r) => !r.is_public && r.id !== a.userId)).toEqual([]);
    });

    it("changes no row when updating another user's profile, public or private", async () => {
      const c = await signUp(t); // public
      for (const other of [b, c]) {
        const res = await as(
          user(a),
          'authenticated',
          (q) => q`update public.profiles set full_name = 'x' where id = ${other.userId}`,
        );
        expect(res.count).toBe(0);
      }
      const rows = await t.admin`select full_name from public.profiles where id in (${b.userId}, ${c.userId})`;
      expect(rows.map((r) => r.full_name)).not.toContain('x');
    });

    it('updates its own profile', async () => {
      const rows = await as(
        user(a),
        'authenticated',
        (q) => q`update public.profiles set full_name = 'Alice Again' where id = ${a.userId} returning full_name`,
      );
      expect(rows).toEqual([{ full_name: 'Alice Again' }]);
    });

    it('cannot move its own profile to another id', async () => {
      // Only the listed columns are updatable: the id is not among them.
      await denied(
        as(user(a), 'authenticated', (q) => q`update public.profiles set id = ${b.userId} where id = ${a.userId}`),
      );
    });

    it('is refused any access to auth.users with permission denied', async () => {
      await denied(as(user(a), 'authenticated', (q) => q`select id from auth.users`));
      await denied(as(user(a), 'authenticated', (q) => q`select email from auth.users where id = ${a.userId}`));
      await denied(
        as(user(a), 'authenticated', (q) => q`update auth.users set role = 'service_role' where id = ${a.userId}`),
      );
      await denied(as(user(a), 'authenticated', (q) => q`select id from auth.sessions`));
      await denied(as(user(a), 'authenticated', (q) => q`select token_hash from auth.refresh_tokens`));
    });

    it('inserts a profile for its own id only', async () => {
      // A user without a profile, made behind the gateway's back, so the insert is possible at all.
      const [d] = await t.admin<{ id: string }[]>`
        insert into auth.users (email) values (${`nodata${Date.now()}@example.com`}) returning id`;
      const other = as(user(a), 'authenticated', (q) => q`insert into public.profiles (id) values (${d!.id})`);
      await expect(other).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/row-level security/),
      });
      const own = await as(
        { sub: d!.id, role: 'authenticated' },
        'authenticated',
        (q) => q`insert into public.profiles (id, full_name) values (${d!.id}, 'Dee') returning id`,
      );
      expect(own).toEqual([{ id: d!.id }]);
    });

    it("cannot delete another user's profile", async () => {
      const outcome = await as(user(a), 'authenticated', async (q) => {
        const res = await q`delete from public.profiles where id = ${b.userId}`;
        return res.count;
      }).catch((err: { code?: string }) => err.code);
      expect(['42501', 0]).toContain(outcome);
      expect(await t.admin`select id from public.profiles where id = ${b.userId}`).toHaveLength(1);
    });
  });

  describe('as anon', () => {
    it('sees public profiles only', async () => {
      const rows = await as(
        anon,
        'anon',
        (q) => q<{ id: string; is_public: boolean }[]>`
        select id, is_public from public.profiles`,
      );
      expect(rows.map((r) => r.id)).toContain(a.userId);
      expect(rows.map((r) => r.id)).not.toContain(b.userId);
      expect(rows.every((r) => r.is_public)).toBe(true);
    });

    it('cannot update or insert any profile', async () => {
      const update = as(anon, 'anon', async (q) => {
        const res = await q`update public.profiles set full_name = 'x' where id = ${a.userId}`;
        return res.count;
      }).catch((err: { code?: string }) => err.code);
      // Either refused outright or matching no row; never a change.
      expect(['42501', 0]).toContain(await update);
      await denied(as(anon, 'anon', (q) => q`insert into public.profiles (id) values (gen_random_uuid())`));
      const [row] = await t.admin`select full_name from public.profiles where id = ${a.userId}`;
      expect(row?.full_name).not.toBe('x');
    });

    it('is refused auth.users', async () => {
      await denied(as(anon, 'anon', (q) => q`select id from auth.users`));
    });

    it('gets nothing from auth.visible_users', async () => {
      await denied(as(anon, 'anon', (q) => q`select * from auth.visible_users(array[${a.userId}]::uuid[])`));
    });
  });
});

describe('auth.uid(), auth.jwt(), auth.role()', () => {
  it('return the values of the claims of the transaction', async () => {
    const claims = { sub: a.userId, role: 'authenticated', email: 'a@example.com', session_id: 'x' };
    const [r] = await as(
      claims,
      'authenticated',
      (q) => q`select auth.uid() as uid, auth.jwt() as jwt, auth.role() as role`,
    );
    expect(r).toEqual({ uid: a.userId, jwt: claims, role: 'authenticated' });
    const [an] = await as(anon, 'anon', (q) => q`select auth.uid() as uid, auth.jwt() as jwt, auth.role() as role`);
    expect(an).toEqual({ uid: null, jwt: { role: 'anon' }, role: 'anon' });
  });

  it('return null when no claims are set, on a fresh session and after a request', async () => {
    const fresh = postgres(loginUrl, { max: 1, onnotice: () => {} });
    try {
      const [r] = await fresh`select auth.uid() as uid, auth.jwt() as jwt, auth.role() as role`;
      expect(r).toEqual({ uid: null, jwt: null, role: null });
    } finally {
      await fresh.end({ timeout: 5 });
    }
    // Claims set as empty (what a transaction-local setting reverts to) read as null too.
    const [r] = await as(
      null,
      'authenticated',
      (q) => q`select auth.uid() as uid, auth.jwt() as jwt, auth.role() as role`,
    );
    expect(r).toEqual({ uid: null, jwt: null, role: null });
  });
});

// Last in the file: it starts a second gateway, which re-provisions the cluster-wide login role.
describe('a second database in the same cluster', () => {
  const dropGatewayConnections = async () => {
    await t.admin`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name in ('authgate', 'authgate-auth')`;
    // Let the pools see their sockets close before the next request.
    await new Promise((r) => setTimeout(r, 100));
  };
  const meWorks = async () => (await t.gql(ME, {}, a.accessToken)).data?.me?.id === a.userId;

  it('does not lock this gateway out of its own database when it reconnects', async () => {
    // The control: a plain reconnect works.
    await dropGatewayConnections();
    expect(await meWorks()).toBe(true);

    // The roles are shared by the cluster (migration 0001 expects that); each database has
    // its own login role, so a second database's start-up cannot change this one's password.
    const second = await startGateway();
    try {
      expect((await signUp(second)).userId).toBeTruthy();
      await dropGatewayConnections();
      expect(await meWorks()).toBe(true);
      expect((await fetch(t.url.replace(/\/graphql$/, '/readyz'))).status).toBe(200);
    } finally {
      await second.close();
    }
  });
});
