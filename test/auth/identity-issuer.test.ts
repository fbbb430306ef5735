import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ProviderAccount, type ProviderHarness, startProvider } from '../../dev/oidc-provider.js';
import { type Config, ConfigError, loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/server.js';
import { createTestDatabase } from '../../src/testing/index.js';
import { type GqlResponse, NO_RATE_LIMITS } from '../helpers.js';
import { signInThrough } from '../oidc-browser.js';
import { freePort } from '../ports.js';

/**
 * Identities are keyed by the issuer that vouches for a subject, never by the name an operator
 * gives the issuer. The attack: an issuer whose keys the attacker holds, configured under the
 * name of another (or given a name another issuer had), mints a token with the victim's subject.
 * Its subject must never open the other issuer's account.
 *
 * Real parts throughout: gateways on HTTP ports, their own database of the run's Postgres, two
 * issuers of access tokens with keys generated here (one JWKS server), and the real OpenID
 * provider of oidc.test.ts.
 */

const AUDIENCE = 'authgate-app';
/** The issuer the attacker controls, and the one whose users are the victims. */
const ISSUER_A = 'https://issuer-a.example.test';
const ISSUER_B = 'https://issuer-b.example.test';

type Key = { kid: string; privateKey: CryptoKey; jwk: JWK };

/** Two issuers' key sets on one server: /a/jwks.json and /b/jwks.json. */
let jwks: Server;
let jwksOrigin: string;
let keys: Record<'a' | 'b', Key>;
let h: ProviderHarness;
let gatewayPort: number;
let appUrl: string;

async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

beforeAll(async () => {
  keys = { a: await newKey('key-a'), b: await newKey('key-b') };
  jwks = createServer((req, res) => {
    const which = req.url === '/a/jwks.json' ? 'a' : req.url === '/b/jwks.json' ? 'b' : null;
    if (which === null) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [keys[which].jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', () => resolve()));
  const address = jwks.address();
  jwksOrigin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  gatewayPort = await freePort();
  appUrl = `http://127.0.0.1:${await freePort()}/app/signed-in`;
  h = await startProvider({ redirectUris: [`http://127.0.0.1:${gatewayPort}/auth/acme/callback`] });
});
afterAll(async () => {
  await h?.close();
  await new Promise<void>((resolve) => (jwks ? jwks.close(() => resolve()) : resolve()));
});

/** An access token of issuer A or B (whoever holds its key). */
async function mint(which: 'a' | 'b', claims: JWTPayload): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const key = keys[which];
  return new SignJWT({ iss: which === 'a' ? ISSUER_A : ISSUER_B, aud: AUDIENCE, iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/** TRUSTED_ISSUERS entry for issuer A or B under `name`. */
const trusted = (name: string, which: 'a' | 'b') => ({
  name,
  issuer: which === 'a' ? ISSUER_A : ISSUER_B,
  jwksUrl: `${jwksOrigin}/${which}/jwks.json`,
  audiences: [AUDIENCE],
  jwksCooldownS: 0,
  jwksTimeoutMs: 2000,
});

/** OIDC_PROVIDERS entry for the real provider under `name`. */
const oidc = (name: string) => ({
  name,
  issuer: h.issuer,
  clientId: h.clientId,
  clientSecret: h.clientSecret,
  timeoutMs: 5000,
});

const testEnv = (env: Record<string, string>): Record<string, string> => ({
  NODE_ENV: 'test',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  ...NO_RATE_LIMITS,
  ...env,
});

// --- databases and gateways: several gateways, one after the other, on one database ------

type Database = { url: string; admin: postgres.Sql; drop: () => Promise<void> };

async function newDatabase(): Promise<Database> {
  const database = await createTestDatabase(inject('adminUrl'));
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  return {
    url: database.url,
    admin,
    drop: async () => {
      await admin.end();
      await database.drop();
    },
  };
}

type Running = {
  url: string;
  gql: <T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
  ) => Promise<GqlResponse<T>>;
  close: () => Promise<void>;
};

/** A real gateway with `config` on `db`, listening on 127.0.0.1 (on `port` when given). */
async function run(config: Config, db: Database, port = 0): Promise<Running> {
  const gateway = await createGateway(config, db.url);
  const url = `http://127.0.0.1:${await gateway.listen(port, '127.0.0.1')}/graphql`;
  return {
    url,
    gql: async (query, variables, token) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return { ...((await res.json()) as GqlResponse), status: res.status } as GqlResponse<any>;
    },
    close: () => gateway.close(),
  };
}

const WHO = 'query { me { id email } identities { provider providerUserId } }';
const EXCHANGE = /* GraphQL */ `
  mutation Exchange($code: String!) { exchangeCode(code: $code) { accessToken user { id email } } }`;

type Who = { id: string; email: string; identities: Array<{ provider: string; providerUserId: string }> };

/** Who the gateway says the bearer of `token` is; fails the test on errors. */
async function whoIs(gw: Running, token: string): Promise<Who> {
  const res = await gw.gql(WHO, {}, token);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return { ...res.data!.me, identities: res.data!.identities };
}

/** A provider sign-in in a browser as `account`, its code exchanged: who it signed in. */
async function signInAt(gw: Running, account: ProviderAccount): Promise<Who> {
  h.accounts.set(account.sub, account);
  const landing = await signInThrough(h, gw, { account: account.sub, provider: 'acme', redirectTo: appUrl });
  expect(landing.error).toBeNull();
  const res = await gw.gql(EXCHANGE, { code: landing.code });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return whoIs(gw, res.data!.exchangeCode.accessToken);
}

/** The identities of `subject` in `db`, by issuer: whether each belongs to `userId`. */
async function ownersOf(db: Database, subject: string, userId: string): Promise<Record<string, boolean>> {
  const rows = await db.admin<{ user_id: string; issuer: string }[]>`
    select user_id::text, issuer from auth.identities where provider_id = ${subject}`;
  return Object.fromEntries(rows.map((r) => [r.issuer, r.user_id === userId]));
}

// --- the tests ----------------------------------------------------------------------------

describe('one name for a trusted issuer and an OpenID provider', () => {
  const shared = () =>
    testEnv({
      PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
      OIDC_REDIRECT_URLS: appUrl,
      TRUSTED_ISSUERS: JSON.stringify([trusted('acme', 'a')]),
      OIDC_PROVIDERS: JSON.stringify([oidc('acme')]),
    });

  it('is refused at start, naming the variable and not the client secret', () => {
    let refused: unknown;
    try {
      loadConfig(shared());
    } catch (err) {
      refused = err;
    }
    expect(refused, 'the configuration was accepted').toBeInstanceOf(ConfigError);
    const message = (refused as ConfigError).message;
    expect(message).toContain('OIDC_PROVIDERS');
    expect(message).toContain('"acme"');
    expect(message).not.toContain(h.clientSecret);
  });

  it("never lets one issuer's subject open the other's account, even forced past the configuration check", async () => {
    // What loadConfig accepted before the fix: the same two entries under one name. It is
    // refused now (above), so the names are made equal after parsing to test the keying alone.
    const parsed = loadConfig({ ...shared(), OIDC_PROVIDERS: JSON.stringify([oidc('acme-oidc')]) });
    const config: Config = {
      ...parsed,
      oidc: { ...parsed.oidc, providers: parsed.oidc.providers.map((p) => ({ ...p, name: 'acme' })) },
    };
    const db = await newDatabase();
    const gw = await run(config, db, gatewayPort);
    try {
      // The victim signs in through the OpenID provider as subject S.
      const s = `user-${randomBytes(6).toString('hex')}`;
      const victim = await signInAt(gw, { sub: s, email: `victim-${s}@example.com`, email_verified: true });
      expect(victim.identities).toEqual([{ provider: 'acme', providerUserId: s }]);
      // The attacker holds issuer A's keys and mints a token for subject S.
      const attacker = await whoIs(gw, await mint('a', { sub: s }));
      expect(attacker.id, "issuer A's token opened the victim's account").not.toBe(victim.id);
      expect(attacker.email).toBe('');
      // Each issuer has its own identity of S.
      expect(await ownersOf(db, s, victim.id)).toEqual({ [h.issuer]: true, [ISSUER_A]: false });

      // The reverse: the victim comes through issuer A as T, the attacker through the provider,
      // whose account it controls, with the subject T.
      const t = `user-${randomBytes(6).toString('hex')}`;
      const victim2 = await whoIs(
        gw,
        await mint('a', { sub: t, email: `victim-${t}@example.com`, email_verified: true }),
      );
      const attacker2 = await signInAt(gw, { sub: t, email: `attacker-${t}@example.com`, email_verified: true });
      expect(attacker2.id, "the provider's sign-in opened the victim's account").not.toBe(victim2.id);
      expect(attacker2.email).toBe(`attacker-${t}@example.com`);
      // And the victims still reach their own accounts.
      expect((await whoIs(gw, await mint('a', { sub: t }))).id).toBe(victim2.id);
      expect((await signInAt(gw, { sub: s, email: `victim-${s}@example.com`, email_verified: true })).id).toBe(
        victim.id,
      );
    } finally {
      await gw.close();
      await db.drop();
    }
  });
});

describe('a name handed from one issuer to another', () => {
  it("gives the new issuer's subjects new accounts, and the old issuer keeps its users under any name", async () => {
    const db = await newDatabase();
    try {
      const s = `user_${randomUUID()}`;
      const victimToken = () => mint('a', { sub: s, email: `victim-${s}@example.com`, email_verified: true });

      // First the operator trusts issuer A as "acme"; the victim's account is made from A's token.
      const first = await run(loadConfig(testEnv({ TRUSTED_ISSUERS: JSON.stringify([trusted('acme', 'a')]) })), db);
      let victim: Who;
      try {
        victim = await whoIs(first, await victimToken());
        expect(victim.email).toBe(`victim-${s}@example.com`);
      } finally {
        await first.close();
      }

      // Then "acme" is issuer B (the attacker's keys), and A stays on as "legacy".
      const second = await run(
        loadConfig(testEnv({ TRUSTED_ISSUERS: JSON.stringify([trusted('acme', 'b'), trusted('legacy', 'a')]) })),
        db,
      );
      try {
        const attacker = await whoIs(second, await mint('b', { sub: s }));
        expect(attacker.id, "issuer B's token opened the victim's account").not.toBe(victim.id);
        expect(attacker.email).toBe('');
        expect(attacker.identities).toEqual([{ provider: 'acme', providerUserId: s }]);
        // A's own token still reaches the victim's account: it follows the issuer, not the name.
        expect((await whoIs(second, await victimToken())).id).toBe(victim.id);
        expect(await ownersOf(db, s, victim.id)).toEqual({ [ISSUER_A]: true, [ISSUER_B]: false });
      } finally {
        await second.close();
      }
    } finally {
      await db.drop();
    }
  });
});
