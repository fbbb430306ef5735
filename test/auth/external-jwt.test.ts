import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, type GqlResponse, ME, signUp, startGateway, type TestGateway } from '../helpers.js';

/**
 * Trusted issuers: access tokens of another identity provider (the way Clerk and Logto
 * issue them) accepted as bearer tokens, verified against a JWKS server this test runs
 * with keys it generates, mapped to our users just in time, and filtered by the same RLS.
 */

type Key = { kid: string; alg: string; privateKey: CryptoKey; jwk: JWK };

async function newKey(alg: 'RS256' | 'ES256', kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** The issuer's side: a JWKS (and discovery) server whose key set the test rotates. */
class Issuer {
  published: Key[] = [];
  jwksFetches = 0;
  failing = false;
  private server: Server;
  url = '';
  constructor() {
    this.server = createServer((req, res) => {
      if (this.failing) {
        res.writeHead(500).end();
        return;
      }
      if (req.url === '/.well-known/jwks.json') {
        this.jwksFetches++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: this.published.map((k) => k.jwk) }));
        return;
      }
      if (req.url === '/oidc/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            issuer: `${this.url}/oidc`,
            authorization_endpoint: `${this.url}/oidc/auth`,
            token_endpoint: `${this.url}/oidc/token`,
            jwks_uri: `${this.url}/.well-known/jwks.json`,
          }),
        );
        return;
      }
      res.writeHead(404).end();
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const CLERK_ISS = 'https://clerk.example.test';
const AUDIENCE = 'authgate-app';

let issuer: Issuer;
let t: TestGateway;
let keyA: Key;
let keyB: Key;

async function token(key: Key, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: CLERK_ISS, aud: AUDIENCE, iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

const ME_FULL =
  'query { me { id email role appMetadata profile { id isPublic } } identities { provider providerUserId email } }';

beforeAll(async () => {
  issuer = new Issuer();
  await issuer.start();
  keyA = await newKey('RS256', 'key-a');
  keyB = await newKey('RS256', 'key-b');
  issuer.published = [keyA];
  t = await startGateway({
    TRUSTED_ISSUERS: JSON.stringify([
      {
        name: 'clerk',
        issuer: CLERK_ISS,
        jwksUrl: `${issuer.url}/.well-known/jwks.json`,
        audiences: [AUDIENCE],
        algorithms: ['RS256'],
        jwksCooldownS: 0,
        jwksTimeoutMs: 1000,
      },
      // Keys found through OpenID discovery, the user id in a claim of its own (as Logto
      // or a Clerk JWT template can be set up).
      { name: 'logto', issuer: `${issuer.url}/oidc`, audiences: ['api://authgate'], userIdClaim: 'uid' },
    ]),
  });
});
afterAll(async () => {
  await t?.close();
  await issuer?.stop();
});

describe('a trusted issuer’s access token', () => {
  it('signs the request in as a user created just in time, with a profile and the identity', async () => {
    const sub = `user_${randomUUID()}`;
    const bearer = await token(keyA, { sub, email: 'Clerk.User@Example.com', email_verified: true });
    const first = await t.gql(ME_FULL, {}, bearer);
    expect(first.errors).toBeUndefined();
    const me = first.data!.me;
    expect(me.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(me.id).not.toBe(sub);
    expect(me.email).toBe('clerk.user@example.com');
    expect(me.role).toBe('authenticated');
    expect(me.appMetadata).toMatchObject({ provider: 'clerk', providers: ['clerk'] });
    expect(me.profile).toEqual({ id: me.id, isPublic: true });
    expect(first.data!.identities).toEqual([
      { provider: 'clerk', providerUserId: sub, email: 'Clerk.User@Example.com' },
    ]);
    // A fresh token of the same subject is the same user, and no second row appears.
    const again = await t.gql(ME, {}, await token(keyA, { sub, email: 'clerk.user@example.com' }));
    expect(again.data!.me.id).toBe(me.id);
    const [row] =
      await t.admin`select count(*)::int as n from auth.identities where provider = 'clerk' and provider_id = ${sub}`;
    expect(row!.n).toBe(1);
  });

  it('creates one user when many first requests of a new subject arrive at once', async () => {
    const sub = `user_${randomUUID()}`;
    const bearers = await Promise.all(Array.from({ length: 12 }, () => token(keyA, { sub })));
    const answers = await Promise.all(bearers.map((b) => t.gql(ME, {}, b)));
    const ids = new Set(answers.map((a) => a.data?.me?.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^[0-9a-f-]{36}$/);
    const [row] = await t.admin`select count(*)::int as n from auth.identities where provider_id = ${sub}`;
    expect(row!.n).toBe(1);
    // One sign-up in the audit log too: the requests that lost the race wrote none.
    const audit = await t.admin<{ event: string; detail: Record<string, unknown> }[]>`
      select event, detail from auth.audit_log where user_id = ${[...ids][0]!}`;
    expect(audit).toEqual([{ event: 'user.signed_up', detail: { method: 'external', provider: 'clerk' } }]);
  });

  it('runs with our standard claims (our user id as sub, provider, amr), so the same policies apply', async () => {
    // A trigger records the claims the request's transaction carried when it wrote.
    await t.admin.unsafe(`
      create table if not exists public.claims_seen (claims jsonb, uid uuid, role text);
      create or replace function public.record_claims() returns trigger language plpgsql security definer
        set search_path = '' as $$
        begin
          insert into public.claims_seen values (auth.jwt(), auth.uid(), auth.role());
          return new;
        end $$;
      drop trigger if exists record_claims on public.profiles;
      create trigger record_claims before update on public.profiles for each row execute function public.record_claims();
    `);
    const sub = `user_${randomUUID()}`;
    const bearer = await token(keyA, { sub, email: `${sub}@example.com`, email_verified: true });
    const hidden = await t.gql(
      'mutation { updateProfile(input: { isPublic: false, username: "ext_private" }) { id isPublic } }',
      {},
      bearer,
    );
    expect(hidden.errors).toBeUndefined();
    const id = hidden.data!.updateProfile.id as string;
    const [seen] = await t.admin<{ claims: Record<string, any>; uid: string; role: string }[]>`
      select claims, uid::text, role from public.claims_seen order by ctid desc limit 1`;
    expect(seen!.uid).toBe(id);
    expect(seen!.role).toBe('authenticated');
    expect(seen!.claims).toMatchObject({
      sub: id,
      role: 'authenticated',
      aud: 'authenticated',
      provider: 'clerk',
      iss: CLERK_ISS,
      aal: 'aal1',
      is_anonymous: false,
      email: `${sub}@example.com`,
    });
    expect(seen!.claims.amr[0]).toMatchObject({ method: 'external_jwt', provider: 'clerk' });
    expect(seen!.claims.session_id).toBeUndefined();

    // The private profile: hidden from a native user and from anon, visible to its owner.
    const native = await signUp(t);
    const lookup = 'query P($u: String!) { profile(username: $u) { id isPublic } }';
    expect((await t.gql(lookup, { u: 'ext_private' }, native.accessToken)).data!.profile).toBeNull();
    expect((await t.gql(lookup, { u: 'ext_private' })).data!.profile).toBeNull();
    expect((await t.gql(lookup, { u: 'ext_private' }, bearer)).data!.profile).toEqual({ id, isPublic: false });
    const page = await t.gql('query { profiles(first: 100) { edges { node { id } } } }', {}, native.accessToken);
    expect(page.data!.profiles.edges.map((e: { node: { id: string } }) => e.node.id)).not.toContain(id);
    // And it cannot write another user's profile: RLS, not resolver code, decides.
    const [other] = await t.admin<{ n: number }[]>`
      select count(*)::int as n from public.profiles where id = ${native.userId} and username = 'ext_private'`;
    expect(other!.n).toBe(0);
    await t.admin.unsafe('drop trigger record_claims on public.profiles');
  });

  it('never takes over an account that holds the same email: the new user gets none', async () => {
    const native = await signUp(t);
    const sub = `user_${randomUUID()}`;
    const res = await t.gql(ME_FULL, {}, await token(keyA, { sub, email: native.email, email_verified: true }));
    expect(res.errors).toBeUndefined();
    expect(res.data!.me.id).not.toBe(native.userId);
    expect(res.data!.me.email).toBe('');
    const mine = await t.gql(ME_FULL, {}, native.accessToken);
    expect(mine.data!.me.email).toBe(native.email);
    expect(mine.data!.identities.map((i: { provider: string }) => i.provider)).toEqual(['email']);
  });

  it('does not give the account an email the issuer says is unverified', async () => {
    const sub = `user_${randomUUID()}`;
    const address = `${sub}@example.com`;
    const res = await t.gql(ME_FULL, {}, await token(keyA, { sub, email: address, email_verified: false }));
    expect(res.data!.me.email).toBe('');
    expect(res.data!.identities[0].email).toBe(address);
    // The address stays free for its owner.
    const owner = await signUp(t, undefined, address);
    expect(owner.userId).not.toBe(res.data!.me.id);
  });

  it('does not give the account an email the issuer does not say it verified (no email_verified claim)', async () => {
    const sub = `user_${randomUUID()}`;
    const address = `${sub}@example.com`;
    const bearer = await token(keyA, { sub, email: address });
    const res = await t.gql(ME_FULL, {}, bearer);
    expect(res.data!.me.email).toBe('');
    // The address stays free: its owner signs up, and a magic link for it never lands in the squatter's account.
    const owner = await signUp(t, undefined, address);
    expect(owner.userId).not.toBe(res.data!.me.id);
  });

  it('finds its keys through OpenID discovery and takes the user id from the configured claim', async () => {
    const now = Math.floor(Date.now() / 1000);
    const logto = await new SignJWT({ uid: 'logto-42', sub: 'ignored', iat: now, exp: now + 300 })
      .setProtectedHeader({ alg: 'RS256', kid: keyA.kid })
      .setIssuer(`${issuer.url}/oidc`)
      .setAudience('api://authgate')
      .sign(keyA.privateKey);
    const res = await t.gql(ME_FULL, {}, logto);
    expect(res.errors).toBeUndefined();
    expect(res.data!.identities).toEqual([{ provider: 'logto', providerUserId: 'logto-42', email: null }]);
    expect(res.data!.me.email).toBe('');
  });

  it('follows a key rotation at the issuer: a new kid is fetched once and verifies', async () => {
    const before = issuer.jwksFetches;
    issuer.published = [keyA, keyB];
    const sub = `user_${randomUUID()}`;
    const res = await t.gql(ME, {}, await token(keyB, { sub }));
    expect(res.errors).toBeUndefined();
    expect(res.data!.me.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(issuer.jwksFetches).toBe(before + 1);
    // The old key leaves the set; a token it signs after that is refused once the set is refetched.
    issuer.published = [keyB];
    const unknown = await newKey('RS256', 'key-c');
    expect(codeOf(await t.gql(ME, {}, await token(unknown, { sub })))).toBe('UNAUTHENTICATED');
    expect(codeOf(await t.gql(ME, {}, await token(keyA, { sub: `user_${randomUUID()}` })))).toBe('UNAUTHENTICATED');
    expect((await t.gql(ME, {}, await token(keyB, { sub }))).data!.me.id).toBe(res.data!.me.id);
  });

  it('refuses an issuer it does not trust, a wrong audience, a disallowed algorithm, an expired or unsigned token', async () => {
    const sub = `user_${randomUUID()}`;
    const es = await newKey('ES256', 'key-es');
    issuer.published = [keyB, es];
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string]> = [
      ['untrusted issuer', await token(keyB, { sub, iss: 'https://evil.example.test' })],
      ['our own issuer, their key', await token(keyB, { sub, iss: 'authgate' })],
      ['wrong audience', await token(keyB, { sub, aud: 'someone-else' })],
      ['no audience', await token(keyB, { sub, aud: undefined })],
      ['algorithm not allowed (ES256 key in the set)', await token(es, { sub })],
      ['expired', await token(keyB, { sub, iat: now - 600, exp: now - 60 })],
      ['no exp', await token(keyB, { sub, exp: undefined })],
      ['no subject', await token(keyB, { sub: undefined })],
      [
        'alg none',
        `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
          JSON.stringify({ iss: CLERK_ISS, aud: AUDIENCE, sub, exp: now + 300 }),
        ).toString('base64url')}.`,
      ],
      [
        'HS256 with the public key as secret',
        await new SignJWT({ iss: CLERK_ISS, aud: AUDIENCE, sub, exp: now + 300 })
          .setProtectedHeader({ alg: 'HS256', kid: keyB.kid })
          .sign(new TextEncoder().encode(JSON.stringify(keyB.jwk))),
      ],
    ];
    for (const [name, bearer] of cases) {
      const res: GqlResponse = await t.gql(ME, {}, bearer);
      expect({ name, code: codeOf(res), data: res.data ?? null }).toEqual({
        name,
        code: 'UNAUTHENTICATED',
        data: null,
      });
    }
    const [row] = await t.admin`select count(*)::int as n from auth.identities where provider_id = ${sub}`;
    expect(row!.n).toBe(0);
  });

  it('answers UNAUTHENTICATED quickly while the issuer’s JWKS is down, and recovers', async () => {
    issuer.failing = true;
    const stranger = await newKey('RS256', `key-${randomUUID()}`);
    const started = Date.now();
    expect(codeOf(await t.gql(ME, {}, await token(stranger, { sub: 'x' })))).toBe('UNAUTHENTICATED');
    expect(Date.now() - started).toBeLessThan(5000);
    issuer.failing = false;
    issuer.published = [keyB, stranger];
    const res = await t.gql(ME, {}, await token(stranger, { sub: `user_${randomUUID()}` }));
    expect(res.errors).toBeUndefined();
  });

  it('is refused on the next request once the user is banned, and signOut GLOBAL ends none of the issuer’s sessions', async () => {
    const sub = `user_${randomUUID()}`;
    const bearer = await token(keyB, { sub });
    const me = await t.gql(ME, {}, bearer);
    const id = me.data!.me.id as string;
    const local = await t.gql('mutation { signOut }', {}, bearer);
    expect(local.data).toEqual({ signOut: true });
    expect((await t.gql(ME, {}, bearer)).data!.me.id).toBe(id);
    const service = await t.gateway.tokens.signServiceRole(300);
    const ban = await t.gql(
      'mutation B($id: ID!, $input: AdminUpdateUserInput!) { adminUpdateUser(id: $id, input: $input) { id } }',
      { id, input: { bannedUntil: new Date(Date.now() + 3600_000).toISOString() } },
      service,
    );
    expect(ban.errors).toBeUndefined();
    const refused = await t.gql(ME, {}, bearer);
    expect(codeOf(refused)).toBe('UNAUTHENTICATED');
    expect(refused.data ?? null).toBeNull();
    const write = await t.gql('mutation { updateProfile(input: { fullName: "banned" }) { id } }', {}, bearer);
    expect(codeOf(write)).toBe('UNAUTHENTICATED');
    const [p] = await t.admin`select full_name from public.profiles where id = ${id}`;
    expect(p!.full_name).toBeNull();
  });

  it('cannot enroll a second factor: MFA belongs to sessions of ours', async () => {
    const res = await t.gql(
      'mutation { mfaEnroll { factorId } }',
      {},
      await token(keyB, { sub: `user_${randomUUID()}` }),
    );
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(res.errors?.[0]?.extensions?.reason).toBe('NATIVE_SESSION_REQUIRED');
  });

  it('keeps native tokens working beside trusted issuers', async () => {
    const s = await signUp(t);
    const res = await t.gql(ME, {}, s.accessToken);
    expect(res.data!.me.id).toBe(s.userId);
  });
});
