import { randomBytes, randomUUID } from 'node:crypto';
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSealingKeys, openPrivateJwk } from '../../src/auth/signing-keys.js';
import { codeOf, type GqlResponse, ME, type Session, signUp, startGateway, type TestGateway } from '../helpers.js';

let t: TestGateway;
let base: string;
let victim: Session;
let other: Session;

/**
 * A gateway of its own for the enclosing describe. Suites run one after another, and only
 * one gateway is open at a time (the login role is cluster-wide).
 */
function withGateway(env: Record<string, string> = {}): void {
  beforeAll(async () => {
    t = await startGateway(env);
    base = t.url.replace(/\/graphql$/, '');
    victim = await signUp(t, { full_name: 'Victim' });
    other = await signUp(t, { full_name: 'Other' });
  });
  afterAll(async () => {
    await t?.close();
  });
}

type Raw = GqlResponse & { text: string };
/** A signing key as jose takes it, with the header fields that go with it. */
type Key = { alg: string; kid?: string; key: CryptoKey | Uint8Array };

/** POST /graphql with a raw Authorization header (or none), keeping the body text. */
async function post(query: string, authorization?: string, variables?: Record<string, unknown>): Promise<Raw> {
  const res = await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  return { ...(text ? (JSON.parse(text) as GqlResponse) : {}), status: res.status, text };
}

/** No error of the response leaks internals through its extensions. */
function expectCleanErrors(res: GqlResponse): void {
  for (const e of res.errors ?? []) {
    expect(e.extensions ?? {}).not.toHaveProperty('stack');
    expect(e.extensions ?? {}).not.toHaveProperty('originalError');
    expect(e.extensions ?? {}).not.toHaveProperty('exception');
  }
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * The key the gateway really signs with, read the way an attacker who stole the database
 * would: HS256 uses the generated secret in authgate_private.secrets; ES256 the current
 * private key in auth.signing_keys, which is sealed at rest, so this attacker also holds the
 * gateway's SECRETS_KEY (test/ops/keys-at-rest.test.ts: no plain private key is stored).
 */
async function realKey(): Promise<Key> {
  const header = decodeProtectedHeader(victim.accessToken);
  if (header.alg === 'HS256') return { alg: 'HS256', key: await dbSecret() };
  const [row] = await t.admin<{ sealed: string }[]>`
    select sealed_private_jwk as sealed from auth.signing_keys where kid = ${header.kid!}`;
  const sealing = loadSealingKeys({
    secretsKey: { current: t.secretsKey, previous: undefined },
    dataDir: '.data',
    env: 'test',
  });
  const jwk = openPrivateJwk(sealing, header.kid!, row!.sealed);
  return { alg: header.alg!, kid: header.kid!, key: (await importJWK(jwk, header.alg!)) as CryptoKey };
}

/** The generated HS256 secret kept in the database. */
async function dbSecret(): Promise<Uint8Array> {
  const [row] = await t.admin<
    { value: string }[]
  >`select value from authgate_private.secrets where name = 'jwt_secret'`;
  return new TextEncoder().encode(row!.value);
}

/** The victim's claims with a fresh iat/exp, `patch` applied, signed with `key` (default: the real one). */
async function forge(patch: Record<string, unknown> = {}, key?: Key): Promise<string> {
  const k = key ?? (await realKey());
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...decodeJwt(victim.accessToken), iat: now, exp: now + 600, ...patch };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: k.alg, typ: 'JWT', ...(k.kid ? { kid: k.kid } : {}) })
    .sign(k.key);
}

/** A key of the gateway's algorithm that is not the gateway's. */
async function wrongKey(): Promise<Key> {
  const real = await realKey();
  if (real.alg === 'HS256') return { alg: 'HS256', key: randomBytes(32) };
  const { privateKey } = await generateKeyPair(real.alg);
  return { alg: real.alg, ...(real.kid ? { kid: real.kid } : {}), key: privateKey };
}

// Anon gets data from this document (me: null plus public profiles): a bad token must get none.
const PROBE = '{ me { id } profiles(first: 5) { edges { node { id } } } }';

describe('HTTP', () => {
  withGateway();

  describe('health endpoints', () => {
    it('GET /healthz answers 200 while the process runs', async () => {
      const res = await fetch(`${base}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    });

    it('GET /readyz answers 200 when migrations are applied and the database answers', async () => {
      const res = await fetch(`${base}/readyz`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('GET /readyz answers 503 when the gateway cannot read the migrations, and recovers', async () => {
      await t.admin`revoke select on drizzle.__drizzle_migrations from authgate_authenticator`;
      try {
        const res = await fetch(`${base}/readyz`);
        expect(res.status).toBe(503);
        expect(JSON.stringify(await res.json())).not.toMatch(/permission|drizzle|42501/i);
      } finally {
        await t.admin`grant select on drizzle.__drizzle_migrations to authgate_authenticator`;
      }
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    });

    it('GET /readyz answers 503 when a shipped migration is missing from the database', async () => {
      const [last] = await t.admin<{ id: number; hash: string; created_at: string }[]>`
      select id, hash, created_at from drizzle.__drizzle_migrations order by id desc limit 1`;
      await t.admin`delete from drizzle.__drizzle_migrations where id = ${last!.id}`;
      try {
        expect((await fetch(`${base}/readyz`)).status).toBe(503);
      } finally {
        await t.admin`insert into drizzle.__drizzle_migrations (id, hash, created_at)
                    values (${last!.id}, ${last!.hash}, ${last!.created_at})`;
      }
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    });
  });

  describe('GraphiQL', () => {
    it('GET /graphql from a browser serves a self-contained GraphiQL with the example document', async () => {
      const res = await fetch(t.url, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<title>authgate</title>');
      expect(html).toContain('mutation SignUp');
      expect(html).toContain('query Me');
      // Bundled: no script or stylesheet from another origin, no CDN.
      expect(html).not.toMatch(/<(script|link)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
      expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs|esm\.sh/i);
    });

    it('GET /graphql with a query string still answers as the API', async () => {
      const res = await fetch(`${t.url}?query=${encodeURIComponent('{ me { id } }')}`, {
        headers: { accept: 'application/json', authorization: `Bearer ${victim.accessToken}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ data: { me: { id: victim.userId } } });
    });
  });

  describe('error masking', () => {
    it('answers an unexpected database failure with INTERNAL_SERVER_ERROR and no internals', async () => {
      expect((await post(ME, `Bearer ${victim.accessToken}`)).data?.me?.id).toBe(victim.userId);
      await t.admin`revoke execute on function auth.visible_users(uuid[]) from authenticated`;
      let res: Raw;
      try {
        res = await post(ME, `Bearer ${victim.accessToken}`);
      } finally {
        await t.admin`grant execute on function auth.visible_users(uuid[]) to authenticated`;
      }
      expect(codeOf(res)).toBe('INTERNAL_SERVER_ERROR');
      expect(res.data?.me ?? null).toBeNull();
      expect(res.text).not.toMatch(
        /permission|denied|visible_users|select |auth\.|42501|postgres|drizzle|stack|\.ts:\d+/i,
      );
      expectCleanErrors(res);
      // The grant restored, the same token works again: nothing was cached as broken.
      expect((await post(ME, `Bearer ${victim.accessToken}`)).data?.me?.id).toBe(victim.userId);
    });
  });

  describe('request errors', () => {
    it.each([
      ['an unknown field', '{ me { id } nope }'],
      ['a syntax error', '{ me { id '],
      ['an unknown argument', '{ profiles(last: 3) { edges { cursor } } }'],
      ['a variable of the wrong type', 'query ($n: Int) { profiles(first: $n) { edges { cursor } } }'],
    ])('answers %s with BAD_USER_INPUT', async (_why, query) => {
      const res = await post(query, undefined, query.includes('$n') ? { n: 'ten' } : undefined);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.data ?? null).toBeNull();
      expectCleanErrors(res);
    });

    it.each([
      ['a body that is not JSON', '{nope'],
      ['a body without a query', '{"variables":{}}'],
      ['a query that is not a string', '{"query":42}'],
    ])('answers %s with BAD_USER_INPUT and nothing of the parser inside', async (_why, body) => {
      const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const json = (await res.json()) as GqlResponse;
      expect(codeOf(json)).toBe('BAD_USER_INPUT');
      expect(json.data ?? null).toBeNull();
      expectCleanErrors(json);
    });
  });
});

describe.each(['ES256', 'HS256'])('bearer tokens (%s)', (alg) => {
  withGateway({ JWT_ALG: alg });

  it('serves the genuine token, and one forged with the real key (the control for every attack below)', async () => {
    expect(decodeProtectedHeader(victim.accessToken).alg).toBe(alg);
    expect((await post(PROBE, `Bearer ${victim.accessToken}`)).data?.me?.id).toBe(victim.userId);
    expect((await post(PROBE, `Bearer ${await forge()}`)).data?.me?.id).toBe(victim.userId);
    // The scheme name is case-insensitive (RFC 7235).
    expect((await post(PROBE, `bearer ${victim.accessToken}`)).data?.me?.id).toBe(victim.userId);
  });

  it('runs a request without Authorization as anon', async () => {
    const res = await post(PROBE);
    expect(res.errors).toBeUndefined();
    expect(res.data?.me).toBeNull();
    expect(res.data?.profiles.edges.length).toBeGreaterThan(0);
  });

  const attacks: Array<[string, () => Promise<string>]> = [
    [
      'an alg none token',
      async () => `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(decodeJwt(victim.accessToken))}.`,
    ],
    ['a token signed with a wrong key', async () => `Bearer ${await forge({}, await wrongKey())}`],
    [
      'a token whose payload was changed to another sub',
      async () => {
        const [h, , s] = victim.accessToken.split('.');
        return `Bearer ${h}.${b64({ ...decodeJwt(victim.accessToken), sub: other.userId })}.${s}`;
      },
    ],
    [
      'an expired token',
      async () => {
        const now = Math.floor(Date.now() / 1000);
        return `Bearer ${await forge({ iat: now - 3700, exp: now - 100 })}`;
      },
    ],
    [
      'a token not valid yet (nbf in the future)',
      async () => `Bearer ${await forge({ nbf: Math.floor(Date.now() / 1000) + 3600 })}`,
    ],
    ['a token for another audience', async () => `Bearer ${await forge({ aud: 'service' })}`],
    ['a token from another issuer', async () => `Bearer ${await forge({ iss: 'not-authgate' })}`],
    ['a token claiming a Postgres role', async () => `Bearer ${await forge({ role: 'postgres' })}`],
    ['a token of a session that never existed', async () => `Bearer ${await forge({ session_id: randomUUID() })}`],
    [
      'a correctly signed token over the length limit',
      async () => `Bearer ${await forge({ user_metadata: { pad: 'x'.repeat(70_000) } })}`,
    ],
    ['a refresh token', async () => `Bearer ${victim.refreshToken}`],
    ['garbage', async () => 'Bearer not.a.jwt'],
    ['a bare scheme', async () => 'Bearer'],
    ['the Basic scheme', async () => 'Basic xyz'],
    ['the Basic scheme around a valid token', async () => `Basic ${victim.accessToken}`],
    ['two credentials', async () => 'Bearer a b'],
    ['a valid token followed by junk', async () => `Bearer ${victim.accessToken} x`],
    ...(alg === 'ES256'
      ? ([
          [
            'an HS256 token keyed with the generated jwt secret',
            async () => `Bearer ${await forge({}, { alg: 'HS256', key: await dbSecret() })}`,
          ],
          [
            'an HS256 token keyed with the public key (algorithm confusion)',
            async () => {
              const { kid } = decodeProtectedHeader(victim.accessToken);
              const [row] = await t.admin<{ public_jwk: JWK }[]>`
                select public_jwk from auth.signing_keys where kid = ${kid!}`;
              const pem = await exportSPKI((await importJWK(row!.public_jwk, 'ES256')) as CryptoKey);
              return `Bearer ${await forge({}, { alg: 'HS256', kid: kid!, key: new TextEncoder().encode(pem) })}`;
            },
          ],
          [
            'a token with an unknown kid',
            async () => `Bearer ${await forge({}, { ...(await wrongKey()), kid: 'not-a-known-kid' })}`,
          ],
        ] satisfies Array<[string, () => Promise<string>]>)
      : ([
          [
            'an ES256 token',
            async () => {
              const { privateKey } = await generateKeyPair('ES256');
              return `Bearer ${await forge({}, { alg: 'ES256', kid: 'k1', key: privateKey })}`;
            },
          ],
        ] satisfies Array<[string, () => Promise<string>]>)),
  ];

  it.each(attacks)('refuses %s with UNAUTHENTICATED and no data', async (_why, header) => {
    const res = await post(PROBE, await header());
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    expect(res.data ?? null).toBeNull();
    expect(res.errors).toHaveLength(1);
    expectCleanErrors(res);
  });

  it('refuses a 100 KB token with UNAUTHENTICATED', async () => {
    // The server takes headers up to 128 KiB, so this reaches the token check (not a bare 431).
    const res = await post(PROBE, `Bearer ${'a'.repeat(100 * 1024)}`);
    expect(res.status).toBeLessThan(500);
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    expect(res.data ?? null).toBeNull();
  });

  it('does not let a tampered token change the profile it names', async () => {
    const [h, , s] = victim.accessToken.split('.');
    const tampered = `${h}.${b64({ ...decodeJwt(victim.accessToken), sub: other.userId })}.${s}`;
    const res = await post('mutation { updateProfile(input: { fullName: "pwned" }) { id } }', `Bearer ${tampered}`);
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    const [row] = await t.admin`select full_name from public.profiles where id = ${other.userId}`;
    expect(row?.full_name).toBe('Other');
  });
});
