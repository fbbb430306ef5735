import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, ME, PASSWORD, SIGN_IN, signUp, startGateway, type TestGateway } from '../helpers.js';

const run = promisify(execFile);

describe('ES256 (default)', () => {
  let t: TestGateway;
  let base: string;
  beforeAll(async () => {
    t = await startGateway({ SIGNING_KEYS_RELOAD_S: '1' });
    base = t.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => {
    await t?.close();
  });

  const jwks = async () =>
    (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };

  it('publishes public keys only, each with a kid', async () => {
    const set = await jwks();
    expect(set.keys.length).toBeGreaterThanOrEqual(1);
    for (const k of set.keys) {
      expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(k.kid).toEqual(expect.any(String));
      expect(k).not.toHaveProperty('d');
    }
  });

  it('issues tokens that a verifier outside the gateway accepts from the JWKS', async () => {
    const s = await signUp(t);
    const header = decodeProtectedHeader(s.accessToken);
    expect(header.alg).toBe('ES256');
    expect((await jwks()).keys.map((k) => k.kid)).toContain(header.kid);
    const { payload } = await jwtVerify(s.accessToken, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), {
      issuer: 'authgate',
      audience: 'authenticated',
      algorithms: ['ES256'],
    });
    expect(payload.sub).toBe(s.userId);
  });

  it('keeps tokens of a rotated-out key valid, signs new ones with the new key, and drops the old key after the token lifetime', async () => {
    const s = await signUp(t);
    const oldKid = decodeProtectedHeader(s.accessToken).kid;
    // The npm script, against this test's database.
    const { stdout } = await run('node_modules/.bin/tsx', ['src/ops/cli.ts', 'keys:rotate'], {
      env: { ...process.env, DATABASE_URL: t.dbUrl, SECRETS_KEY: t.secretsKey },
      timeout: 60_000,
    });
    expect(stdout).toMatch(/new signing key/);
    await new Promise((r) => setTimeout(r, 2100));

    const kids = (await jwks()).keys.map((k) => k.kid);
    expect(kids).toContain(oldKid);
    expect(kids.length).toBe(2);
    expect((await t.gql(ME, {}, s.accessToken)).data?.me?.id).toBe(s.userId);

    const fresh = (await t.gql(SIGN_IN, { input: { email: s.email, password: PASSWORD } })).data!.signIn;
    const newKid = decodeProtectedHeader(fresh.accessToken).kid;
    expect(newKid).not.toBe(oldKid);
    expect(kids).toContain(newKid);
    const remote = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
    for (const token of [s.accessToken, fresh.accessToken]) {
      await expect(jwtVerify(token, remote, { audience: 'authenticated' })).resolves.toBeTruthy();
    }

    // Once every token the old key signed has expired, the key leaves the set.
    await t.admin`update auth.signing_keys set retired_at = now() - interval '2 hours' where kid = ${oldKid!}`;
    await new Promise((r) => setTimeout(r, 2100));
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
    expect(codeOf(await t.gql(ME, {}, s.accessToken))).toBe('UNAUTHENTICATED');
    expect((await t.gql(ME, {}, fresh.accessToken)).data?.me?.id).toBe(s.userId);
  });

  it('refuses an HS256 token made with the public key as the secret (algorithm confusion)', async () => {
    const s = await signUp(t);
    const claims = decodeJwt(s.accessToken);
    const pub = (await jwks()).keys[0]!;
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: pub.kid as string })
      .sign(new TextEncoder().encode(JSON.stringify(pub)));
    expect(codeOf(await t.gql(ME, {}, forged))).toBe('UNAUTHENTICATED');
  });

  it('refuses a token signed by a key it never published, even with a known kid', async () => {
    const s = await signUp(t);
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT(decodeJwt(s.accessToken))
      .setProtectedHeader({ alg: 'ES256', kid: decodeProtectedHeader(s.accessToken).kid! })
      .sign(privateKey);
    expect(codeOf(await t.gql(ME, {}, forged))).toBe('UNAUTHENTICATED');
    const unknownKid = await new SignJWT(decodeJwt(s.accessToken))
      .setProtectedHeader({ alg: 'ES256', kid: 'no-such-key' })
      .sign(privateKey);
    expect(codeOf(await t.gql(ME, {}, unknownKid))).toBe('UNAUTHENTICATED');
  });

  it('prints a service-role JWT with npm run keys:service-role that opens the admin fields', async () => {
    const { stdout } = await run('node_modules/.bin/tsx', ['src/ops/cli.ts', 'keys:service-role'], {
      env: { ...process.env, DATABASE_URL: t.dbUrl, SECRETS_KEY: t.secretsKey },
      timeout: 60_000,
    });
    const token = stdout.trim();
    expect(decodeJwt(token)).toMatchObject({ role: 'service_role', iss: 'authgate' });
    expect(decodeJwt(token).sub).toBeUndefined();
    const users = await t.gql('{ users(first: 1) { edges { node { id } } } }', {}, token);
    expect(users.errors).toBeUndefined();
    expect(users.data!.users.edges).toHaveLength(1);
    const asUser = await t.gql('{ users(first: 1) { edges { node { id } } } }', {}, (await signUp(t)).accessToken);
    expect(codeOf(asUser)).toBe('FORBIDDEN');
  });
});

describe('HS256 (JWT_ALG=HS256)', () => {
  const secret = 'a-shared-secret-of-at-least-32-characters!';
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ JWT_ALG: 'HS256', JWT_SECRET: secret });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('signs with the shared secret, which any Supabase-style verifier can check', async () => {
    const s = await signUp(t);
    expect(decodeProtectedHeader(s.accessToken).alg).toBe('HS256');
    const { payload } = await jwtVerify(s.accessToken, new TextEncoder().encode(secret), { audience: 'authenticated' });
    expect(payload.sub).toBe(s.userId);
    expect((await t.gql(ME, {}, s.accessToken)).data?.me?.id).toBe(s.userId);
  });

  it('publishes no keys and refuses ES256 tokens', async () => {
    const res = await fetch(t.url.replace(/\/graphql$/, '/.well-known/jwks.json'));
    expect(await res.json()).toEqual({ keys: [] });
    const s = await signUp(t);
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const es = await new SignJWT(decodeJwt(s.accessToken))
      .setProtectedHeader({ alg: 'ES256', kid: (await exportJWK(publicKey)).x })
      .sign(privateKey);
    expect(codeOf(await t.gql(ME, {}, es))).toBe('UNAUTHENTICATED');
  });

  it('refuses a token signed with another secret', async () => {
    const s = await signUp(t);
    const forged = await new SignJWT(decodeJwt(s.accessToken))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('another-secret-of-at-least-32-characters'));
    expect(codeOf(await t.gql(ME, {}, forged))).toBe('UNAUTHENTICATED');
  });
});
