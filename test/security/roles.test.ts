import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startGateway, type TestGateway } from '../helpers.js';

/**
 * The request path's login role, probed from SQL as that role: whatever a request (or code
 * that gets hold of its connection) does, it cannot reach the auth path's role, schema auth's
 * tables (password hashes, tokens, private signing keys) or the gateway's own secrets.
 */

// Every table of schema auth; a test below checks this list against the catalog, so a new
// table cannot be left out of the checks.
const AUTH_TABLES = [
  'audit_log',
  'auth_codes',
  'identities',
  'mfa_factors',
  'mfa_recovery_codes',
  'oidc_flows',
  'one_time_tokens',
  'passkey_challenges',
  'passkeys',
  'rate_limits',
  'refresh_tokens',
  'sessions',
  'signing_keys',
  'users',
];
const PRIVATE = ['authgate_private.secrets', ...AUTH_TABLES.map((t) => `auth.${t}`)];
// What a request may switch to: the NOLOGIN group holding its few grants, and the roles requests run as.
const REACHABLE = ['anon', 'authenticated', 'authgate_authenticator', 'service_role'];

let t: TestGateway;
let login: postgres.Sql;
let role: string;

class Rollback extends Error {}

/** Runs `fn` in a transaction that is always rolled back, so no check leaks into the next. */
async function inTx<T>(fn: (q: postgres.TransactionSql) => Promise<T>): Promise<T> {
  let out: T | undefined;
  try {
    await login.begin(async (q) => {
      out = await fn(q);
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return out as T;
}

/** Rejects with the SQLSTATE of insufficient_privilege (42501). */
const denied = (p: Promise<unknown>) => expect(p).rejects.toMatchObject({ code: '42501' });

beforeAll(async () => {
  t = await startGateway();
  await signUp(t);
  role = new URL(t.gateway.loginUrl).username;
  login = postgres(t.gateway.loginUrl, { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await login?.end({ timeout: 5 });
  await t?.close();
});

describe("the request path's login role", () => {
  it('is the role the gateway logs in with, neither superuser nor BYPASSRLS', async () => {
    const [me] = await login<{ u: string; rolsuper: boolean; rolbypassrls: boolean }[]>`
      select current_user as u, rolsuper, rolbypassrls from pg_roles where rolname = current_user`;
    expect(me).toEqual({ u: role, rolsuper: false, rolbypassrls: false });
    expect(role).toMatch(/^authgate_login_/);
  });

  it('reaches exactly anon, authenticated, service_role and its grant group, by membership and by SET ROLE', async () => {
    const [viaHasRole] = await login<{ roles: string[] }[]>`
      select coalesce(array_agg(rolname::text order by rolname), '{}') as roles from pg_roles
      where pg_has_role(current_user, oid, 'member') and rolname <> current_user`;
    expect(viaHasRole!.roles).toEqual(REACHABLE);
    // The same set walked from the membership catalog, granted directly or through a group.
    const [viaMembers] = await t.admin<{ roles: string[] }[]>`
      with recursive up(id) as (
        select roleid from pg_auth_members where member = ${role}::regrole
        union
        select m.roleid from pg_auth_members m join up on m.member = up.id
      )
      select coalesce(array_agg(rolname::text order by rolname), '{}') as roles
      from pg_roles where oid in (select id from up)`;
    expect(viaMembers!.roles).toEqual(REACHABLE);
    for (const r of REACHABLE) {
      const who = await inTx(async (q) => {
        await q`select set_config('role', ${r}, true)`;
        return (await q<{ u: string }[]>`select current_user as u`)[0]!.u;
      });
      expect(who).toBe(r);
    }
  });

  it('is no member of authgate_auth or of the auth path login role, and cannot switch to either', async () => {
    const authLogin = `${role}_auth`;
    const [m] = await login<{ auth: boolean; authLogin: boolean }[]>`
      select pg_has_role(current_user, 'authgate_auth'::name, 'member') as auth,
             pg_has_role(current_user, ${authLogin}::name, 'member') as "authLogin"`;
    expect(m).toEqual({ auth: false, authLogin: false });
    for (const target of ['authgate_auth', authLogin]) {
      await denied(inTx((q) => q.unsafe(`set role "${target}"`)));
      await denied(inTx((q) => q`select set_config('role', ${target}, true)`));
      // Nor through any role it can reach.
      for (const r of REACHABLE) {
        await denied(
          inTx(async (q) => {
            await q`select set_config('role', ${r}, true)`;
            await q`select set_config('role', ${target}, true)`;
          }),
        );
      }
    }
    await denied(login.unsafe('set session authorization postgres'));
  });

  it('lists every table of schema auth in these checks', async () => {
    const rows = await t.admin<{ name: string }[]>`
      select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'auth' and c.relkind in ('r', 'p', 'v', 'm', 'f') order by 1`;
    expect(rows.map((r) => r.name)).toEqual(AUTH_TABLES);
  });

  it.each<[string, string | null]>([
    ['itself', null],
    ...REACHABLE.map((r): [string, string] => [r, r]),
    // The old way in: switching to the auth path's role first, which must itself be refused.
    ['authgate_auth', 'authgate_auth'],
  ])('cannot read auth.* or authgate_private.secrets as %s', async (_label, asRole) => {
    for (const table of PRIVATE) {
      await denied(
        inTx(async (q) => {
          if (asRole) await q`select set_config('role', ${asRole}, true)`;
          return q`select * from ${q(table)} limit 1`;
        }),
      );
    }
  });

  it('holds no privilege at all on the tables, sequences and columns of auth.* or authgate_private.*, nor do the roles it reaches', async () => {
    const rows = await t.admin<{ who: string; object: string }[]>`
      select r.rolname as who, n.nspname || '.' || c.relname as object
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      cross join (select rolname from pg_roles where rolname::text = any(${[role, ...REACHABLE]}::text[])) r
      where n.nspname in ('auth', 'authgate_private') and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
        and (case when c.relkind = 'S'
                  then has_sequence_privilege(r.rolname, c.oid, 'USAGE, SELECT, UPDATE')
                  else has_table_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                    or has_any_column_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
             end)
      order by 1, 2`;
    expect(rows).toEqual([]);
    const [schema] = await login<{ usage: boolean }[]>`
      select has_schema_privilege(current_user, 'authgate_private', 'USAGE') as usage`;
    expect(schema!.usage).toBe(false);
  });

  it('still evaluates auth.uid(), auth.jwt() and auth.role(), which policies need', async () => {
    const claims = { sub: '00000000-0000-4000-8000-000000000001', role: 'authenticated', email: 'x@example.com' };
    for (const asRole of ['', ...REACHABLE]) {
      const got = await inTx(async (q) => {
        await q`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
        if (asRole) await q`select set_config('role', ${asRole}, true)`;
        return (
          await q<{ uid: string; role: string; email: string }[]>`
          select auth.uid() as uid, auth.role() as role, auth.jwt() ->> 'email' as email`
        )[0];
      });
      expect(got, asRole || 'the login role').toEqual({ uid: claims.sub, role: 'authenticated', email: claims.email });
    }
  });
});
