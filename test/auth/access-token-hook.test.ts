import { decodeJwt, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessTokens } from '../../src/auth/access-token.js';
import { loadConfig } from '../../src/config.js';
import { codeOf, ME, PASSWORD, REFRESH, SIGN_IN, SIGN_UP, signUp, startGateway, type TestGateway } from '../helpers.js';
import { NO_LIMITS } from './support.js';

/**
 * ACCESS_TOKEN_HOOK: an operator's Postgres function that adds claims to every access token,
 * run in the minting transaction; a hook that fails or oversteps issues nothing.
 */

// Roles are cluster-wide; the name is this file's own.
const ORG_ROLE = 'hook_test_org_admin';

let t: TestGateway;
const logs: string[] = [];

const setMode = (mode: string) => t.admin`update public.hook_mode set mode = ${mode}`;

beforeAll(async () => {
  t = await startGateway(
    {
      ...NO_LIMITS,
      ACCESS_TOKEN_HOOK: 'public.custom_claims',
      ACCESS_TOKEN_HOOK_ROLES: ORG_ROLE,
      ACCESS_TOKEN_HOOK_TIMEOUT_MS: '300',
      LOG_LEVEL: 'error',
    },
    { logs },
  );
  // What docs/tokens.md tells the operator to run, plus a switch the tests turn.
  await t.admin.unsafe(`
    create table public.org_roles (user_id uuid not null, org text not null, role text not null);
    create table public.hook_mode (mode text not null);
    insert into public.hook_mode values ('claims');
    create function public.custom_claims(event jsonb) returns jsonb language plpgsql stable as $$
      declare
        mode text := (select m.mode from public.hook_mode m);
        claims jsonb := event -> 'claims';
      begin
        case mode
          when 'raise' then raise exception 'no claims for you';
          when 'sleep' then perform pg_sleep(3);
          when 'array' then return '[1, 2]'::jsonb;
          when 'sub' then return jsonb_build_object('claims', claims || jsonb_build_object('sub', gen_random_uuid()));
          when 'aal' then return jsonb_build_object('claims', claims || '{"aal": "aal2"}');
          when 'role_bad' then return jsonb_build_object('claims', claims || '{"role": "service_role"}');
          when 'role_ok' then return jsonb_build_object('claims', claims || '{"role": "${ORG_ROLE}"}');
          else null;
        end case;
        return jsonb_build_object('claims', claims || jsonb_build_object(
          'org_roles', coalesce((select jsonb_agg(jsonb_build_object('org', o.org, 'role', o.role) order by o.org)
                                 from public.org_roles o where o.user_id = (event ->> 'user_id')::uuid), '[]'),
          'auth_method', event ->> 'authentication_method'));
      end $$;
    revoke execute on function public.custom_claims(jsonb) from public, anon, authenticated;
    grant execute on function public.custom_claims(jsonb) to authgate_auth;
    grant select on public.org_roles, public.hook_mode to authgate_auth;
    do $$ begin
      if not exists (select from pg_roles where rolname = '${ORG_ROLE}') then create role ${ORG_ROLE} nologin; end if;
    end $$;
    grant authenticated to ${ORG_ROLE};
    -- Operators grant it to authgate_authenticator (docs/tokens.md); that group is cluster-wide,
    -- so the test grants it to this database's login role alone, leaving other files' alone.
    grant ${ORG_ROLE} to ${new URL(t.gateway.loginUrl).username};
    -- Org members see every profile of their org's users, private ones too (by website).
    create policy org_members on public.profiles for select to authenticated
      using (website in (select 'https://' || (r ->> 'org') || '.example' from jsonb_array_elements(coalesce(auth.jwt() -> 'org_roles', '[]')) r));
    -- The custom role runs the request: it sees every profile.
    create policy org_admins on public.profiles for select to ${ORG_ROLE}
      using (current_user = '${ORG_ROLE}' and auth.role() = '${ORG_ROLE}');
  `);
});
afterAll(async () => {
  await t?.close();
});

const PROFILE = 'query P($id: ID!) { profile(id: $id) { id } }';
const UPDATE = 'mutation U($w: String) { updateProfile(input: { website: $w, isPublic: false }) { id } }';

async function signIn(mail: string) {
  return t.gql(SIGN_IN, { input: { email: mail, password: PASSWORD } });
}

/** The user's sessions and refresh tokens, and how many of the tokens are spent. */
async function issued(userId: string) {
  const [row] = await t.admin<{ sessions: number; tokens: number; spent: number }[]>`
    select (select count(*)::int from auth.sessions where user_id = ${userId}) as sessions,
           (select count(*)::int from auth.refresh_tokens where user_id = ${userId}) as tokens,
           (select count(*)::int from auth.refresh_tokens where user_id = ${userId} and spent_at is not null) as spent`;
  return row!;
}

describe('the access-token hook', () => {
  it('adds claims read from the database at sign-up and sign-in, visible to policies through auth.jwt()', async () => {
    const up = await t.gql(SIGN_UP, { input: { email: `hook-a-${Date.now()}@example.com`, password: PASSWORD } });
    expect(up.errors).toBeUndefined();
    const a = up.data!.signUp;
    expect(decodeJwt(a.accessToken)).toMatchObject({ org_roles: [], auth_method: 'password', role: 'authenticated' });

    const b = await signUp(t);
    expect((await t.gql(UPDATE, { w: 'https://acme.example' }, b.accessToken)).errors).toBeUndefined();
    // Without an org, A's request does not see B's private profile.
    expect((await t.gql(PROFILE, { id: b.userId }, a.accessToken)).data!.profile).toBeNull();

    await t.admin`insert into public.org_roles values (${a.user.id}, 'acme', 'admin')`;
    const res = await signIn(a.user.email);
    expect(res.errors).toBeUndefined();
    const token = res.data!.signIn.accessToken;
    const claims = decodeJwt(token);
    expect(claims.org_roles).toEqual([{ org: 'acme', role: 'admin' }]);
    expect(claims).toMatchObject({ sub: a.user.id, aud: 'authenticated', role: 'authenticated', aal: 'aal1' });
    // The extra claims survive verification into request.jwt.claims.
    expect((await t.gql(PROFILE, { id: b.userId }, token)).data!.profile).toEqual({ id: b.userId });
    expect((await t.gql(ME, {}, token)).data!.me.id).toBe(a.user.id);
  });

  it('runs again on refresh', async () => {
    const a = await signUp(t);
    expect(decodeJwt(a.accessToken).org_roles).toEqual([]);
    await t.admin`insert into public.org_roles values (${a.userId}, 'globex', 'member')`;
    const res = await t.gql(REFRESH, { token: a.refreshToken });
    expect(res.errors).toBeUndefined();
    expect(decodeJwt(res.data!.refresh.accessToken).org_roles).toEqual([{ org: 'globex', role: 'member' }]);
  });

  it('may set role to an allowed role, and the request then runs as it', async () => {
    const a = await signUp(t);
    const b = await signUp(t);
    expect((await t.gql(UPDATE, { w: 'https://initech.example' }, b.accessToken)).errors).toBeUndefined();
    await setMode('role_ok');
    try {
      const res = await signIn(a.email);
      expect(res.errors).toBeUndefined();
      const token = res.data!.signIn.accessToken;
      expect(decodeJwt(token).role).toBe(ORG_ROLE);
      expect((await t.gql(PROFILE, { id: b.userId }, token)).data!.profile).toEqual({ id: b.userId });
      expect((await t.gql(ME, {}, token)).data!.me.id).toBe(a.userId);
    } finally {
      await setMode('claims');
    }
  });

  describe('a failing or overstepping hook issues nothing', () => {
    const cases: Array<[string, string]> = [
      ['raises', 'raise'],
      ['runs past ACCESS_TOKEN_HOOK_TIMEOUT_MS', 'sleep'],
      ['returns something other than an object with claims', 'array'],
      ['changes sub', 'sub'],
      ['changes aal', 'aal'],
      ['sets a role not in ACCESS_TOKEN_HOOK_ROLES', 'role_bad'],
    ];
    for (const [what, mode] of cases) {
      it(`when it ${what}`, async () => {
        const a = await signUp(t);
        const before = await issued(a.userId);
        logs.length = 0;
        await setMode(mode);
        try {
          const signedIn = await signIn(a.email);
          expect(codeOf(signedIn)).toBe('SERVICE_UNAVAILABLE');
          expect(signedIn.errors![0]!.extensions!.reason).toBe('ACCESS_TOKEN_HOOK_FAILED');
          expect(signedIn.data?.signIn ?? null).toBeNull();
          const refreshed = await t.gql(REFRESH, { token: a.refreshToken });
          expect(refreshed.errors![0]!.extensions!.reason).toBe('ACCESS_TOKEN_HOOK_FAILED');
          expect(await issued(a.userId)).toEqual(before);
        } finally {
          await setMode('claims');
        }
        const failures = logs.filter((l) => l.includes('access-token hook failed'));
        expect(failures.length).toBeGreaterThanOrEqual(2);
        expect(failures.every((l) => l.includes('"level":50'))).toBe(true);
        expect(failures.join('\n')).not.toContain(a.userId);
        // The refresh token was not spent: it still works once the hook behaves.
        expect((await t.gql(REFRESH, { token: a.refreshToken })).errors).toBeUndefined();
      });
    }

    it('at sign-up: no user is created', async () => {
      const mail = `hook-none-${Date.now()}@example.com`;
      await setMode('raise');
      try {
        const res = await t.gql(SIGN_UP, { input: { email: mail, password: PASSWORD } });
        expect(res.errors![0]!.extensions!.reason).toBe('ACCESS_TOKEN_HOOK_FAILED');
      } finally {
        await setMode('claims');
      }
      const [row] = await t.admin<{ n: number }[]>`select count(*)::int as n from auth.users where email = ${mail}`;
      expect(row!.n).toBe(0);
    });
  });
});

describe('verifying a token with a custom role', () => {
  const secret = 'a-test-secret-of-at-least-thirty-two-chars';
  const payload = (role: string): JWTPayload => {
    const iat = Math.floor(Date.now() / 1000);
    return {
      iss: 'authgate',
      sub: crypto.randomUUID(),
      aud: 'authenticated',
      iat,
      exp: iat + 60,
      role,
      session_id: crypto.randomUUID(),
      aal: 'aal1',
      amr: [],
      org_roles: [{ org: 'acme', role: 'admin' }],
    };
  };
  const sign = (p: JWTPayload) =>
    new SignJWT(p).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
  const verifier = (roles?: string[]) =>
    createAccessTokens({ mode: { alg: 'HS256', secret }, issuer: 'authgate', ttlS: 60, roles });

  it('accepts a role on the allow-list and keeps the extra claims', async () => {
    const verified = await verifier([ORG_ROLE]).verify(await sign(payload(ORG_ROLE)));
    expect(verified.kind).toBe('user');
    expect(verified.claims).toMatchObject({ role: ORG_ROLE, org_roles: [{ org: 'acme', role: 'admin' }] });
  });

  it('refuses a role the allow-list no longer holds', async () => {
    const token = await sign(payload(ORG_ROLE));
    await expect(verifier([]).verify(token)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    await expect(verifier().verify(await sign(payload('service_role')))).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });
});

describe('ACCESS_TOKEN_HOOK configuration', () => {
  const load = (env: Record<string, string>) => () => loadConfig({ NODE_ENV: 'test', ...env });

  it('takes schema.function and the roles', () => {
    expect(
      loadConfig({ NODE_ENV: 'test', ACCESS_TOKEN_HOOK: 'public.my_claims', ACCESS_TOKEN_HOOK_ROLES: 'a, b' })
        .accessTokenHook,
    ).toEqual({ schema: 'public', name: 'my_claims', roles: ['a', 'b'], timeoutMs: 2000 });
    expect(loadConfig({ NODE_ENV: 'test' }).accessTokenHook).toBeNull();
  });

  it('refuses names that are not two plain identifiers, reserved roles, and roles without a hook', () => {
    for (const hook of ['my_claims', 'public.my_claims()', 'a.b.c', 'public."x"', 'public.x; drop table y']) {
      expect(load({ ACCESS_TOKEN_HOOK: hook })).toThrow(/ACCESS_TOKEN_HOOK/);
    }
    for (const role of ['service_role', 'authgate_auth', 'postgres', 'pg_read_all_data', 'Org']) {
      expect(load({ ACCESS_TOKEN_HOOK: 'public.h', ACCESS_TOKEN_HOOK_ROLES: role })).toThrow(/ACCESS_TOKEN_HOOK_ROLES/);
    }
    expect(load({ ACCESS_TOKEN_HOOK_ROLES: 'org_admin' })).toThrow(/ACCESS_TOKEN_HOOK_ROLES/);
  });
});
