import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_LIMITS } from '../auth/support.js';
import { inTx, loginConnections, ME, type Session, signUp, startGateway, type TestGateway } from '../helpers.js';

/**
 * The settings the request's first statement makes: request.jwt.claims and role, and with
 * PG_SETTINGS_POSTGRAPHILE=true one jwt.claims.<claim> per claim for PostGraphile policies.
 */

let t: TestGateway;
const logins = loginConnections();
const loginRole = logins.open;

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
});
afterAll(async () => {
  await logins.end();
  await t?.close();
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
