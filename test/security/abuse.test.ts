import argon2 from 'argon2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { codeOf, email, PASSWORD, REFRESH, SIGN_IN, SIGN_UP, startGateway, type TestGateway } from '../helpers.js';

const LIMITS = {
  RATE_LIMIT_WINDOW_S: '60',
  RATE_LIMIT_SIGNUP_IP_MAX: '3',
  RATE_LIMIT_TOKEN_IP_MAX: '8',
  RATE_LIMIT_SIGNIN_EMAIL_MAX: '3',
  RATE_LIMIT_SIGNIN_EMAIL_CEILING: '6',
};

describe('rate limits', () => {
  let t: TestGateway;
  beforeAll(async () => {
    // TRUST_PROXY lets each test act as its own client address through X-Forwarded-For.
    t = await startGateway({ ...LIMITS, TRUST_PROXY: 'true' });
  });
  afterAll(async () => {
    await t?.close();
  });
  let ipSeq = 1;
  const ip = () => ({ 'x-forwarded-for': `10.0.${Math.floor(ipSeq / 250)}.${ipSeq++ % 250}` });
  const signIn = (mail: string, password: string, headers: Record<string, string>) =>
    t.gql(SIGN_IN, { input: { email: mail, password } }, undefined, headers);
  /** A user signed up from an address of its own, so sign-ups do not eat each other's budget. */
  const signUpFrom = async () => {
    const mail = email();
    const res = await t.gql(SIGN_UP, { input: { email: mail, password: PASSWORD } }, undefined, ip());
    expect(res.errors).toBeUndefined();
    return { email: mail, refreshToken: res.data!.signUp.refreshToken as string };
  };

  it('stops a wrong-password storm from one client on one email after the configured count, with retryAfter, computing no hash', async () => {
    const { email: mail } = await signUpFrom();
    const from = ip();
    const codes: unknown[] = [];
    for (let i = 0; i < 3; i++) codes.push(codeOf(await signIn(mail, 'wrong password', from)));
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS']);
    const spy = vi.spyOn(argon2, 'verify');
    try {
      // The same client, even with the right password: its budget for this email is spent.
      const limited = await signIn(mail, PASSWORD, from);
      expect(codeOf(limited)).toBe('RATE_LIMITED');
      const retryAfter = limited.errors![0]!.extensions!.retryAfter as number;
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('lets the owner sign in from another client while a stranger is locked out of guessing', async () => {
    const { email: mail } = await signUpFrom();
    const stranger = ip();
    for (let i = 0; i < 5; i++) await signIn(mail, 'wrong password', stranger);
    expect(codeOf(await signIn(mail, PASSWORD, stranger))).toBe('RATE_LIMITED');
    const owner = await signIn(mail, PASSWORD, ip());
    expect(owner.errors).toBeUndefined();
    expect(owner.data!.signIn.accessToken).toEqual(expect.any(String));
  });

  it('still bounds a guesser spread over many clients by a ceiling per email', async () => {
    const { email: mail } = await signUpFrom();
    const codes: unknown[] = [];
    for (let i = 0; i < 7; i++) codes.push(codeOf(await signIn(mail, 'wrong password', ip())));
    expect(codes.slice(0, 6).every((c) => c === 'INVALID_CREDENTIALS')).toBe(true);
    expect(codes[6]).toBe('RATE_LIMITED');
  });

  it('counts every attempt of a document of aliases, and runs none after the first failure', async () => {
    const { email: mail } = await signUpFrom();
    const from = ip();
    const aliases = Array.from(
      { length: 6 },
      (_, i) => `a${i}: signIn(input: { email: "${mail}", password: "wrong password" }) { accessToken }`,
    );
    const res = await t.gql(`mutation { ${aliases.join('\n')} }`, {}, undefined, from);
    // Mutation fields run one after another and a failed non-null field ends the document.
    expect(res.errors!.map((e) => e.extensions!.code)).toEqual(['INVALID_CREDENTIALS']);
    const next = [await signIn(mail, 'wrong password', from), await signIn(mail, 'wrong password', from)];
    expect(next.map(codeOf)).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS']);
    expect(codeOf(await signIn(mail, PASSWORD, from))).toBe('RATE_LIMITED');
  });

  it('limits sign-ins and refreshes together per client address', async () => {
    const s = await signUpFrom();
    const from = ip();
    const codes: unknown[] = [];
    for (let i = 0; i < 5; i++) codes.push(codeOf(await t.gql(REFRESH, { token: 'A'.repeat(43) }, undefined, from)));
    for (let i = 0; i < 5; i++) codes.push(codeOf(await signIn(email('other'), PASSWORD, from)));
    expect(codes.slice(0, 5).every((c) => c === 'INVALID_REFRESH_TOKEN')).toBe(true);
    expect(codes.slice(5, 8).every((c) => c === 'INVALID_CREDENTIALS')).toBe(true);
    expect(codes.slice(8)).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
    // Another address is not affected.
    expect((await t.gql(REFRESH, { token: s.refreshToken }, undefined, ip())).errors).toBeUndefined();
  });

  it('limits sign-ups per client address', async () => {
    const from = ip();
    const codes: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push(codeOf(await t.gql(SIGN_UP, { input: { email: email(), password: PASSWORD } }, undefined, from)));
    }
    expect(codes).toEqual([undefined, undefined, undefined, 'RATE_LIMITED', 'RATE_LIMITED']);
  });

  it('counts attempts in Postgres, so a second instance on the same database shares them', async () => {
    const second: Gateway = await createGateway(
      loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...LIMITS, TRUST_PROXY: 'true', SECRETS_KEY: t.secretsKey }),
      t.dbUrl,
    );
    const port = await second.listen(0, '127.0.0.1');
    try {
      const { email: mail } = await signUpFrom();
      const from = ip();
      const via = async (url: string) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...from },
          body: JSON.stringify({ query: SIGN_IN, variables: { input: { email: mail, password: 'wrong password' } } }),
        });
        return codeOf((await res.json()) as never);
      };
      const other = `http://127.0.0.1:${port}/graphql`;
      const codes = [await via(t.url), await via(other), await via(t.url), await via(other)];
      expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
      const [row] = await t.admin`select count(*)::int n from auth.rate_limits`;
      expect(row!.n).toBeGreaterThan(0);
      const keys = await t.admin`select key from auth.rate_limits`;
      expect(keys.some((k) => String(k.key).includes('@'))).toBe(false);
    } finally {
      await second.close();
    }
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY says so', async () => {
    const plain = await startGateway({ ...LIMITS });
    try {
      const codes: unknown[] = [];
      // Every attempt claims another address; without TRUST_PROXY they all count for the socket's.
      for (let i = 0; i < 5; i++) {
        codes.push(
          codeOf(await plain.gql(SIGN_UP, { input: { email: email(), password: PASSWORD } }, undefined, ip())),
        );
      }
      expect(codes.slice(3)).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
    } finally {
      await plain.close();
    }
  });
});

describe('GraphQL cost limits and HTTP guards', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({
      GRAPHQL_MAX_DEPTH: '4',
      GRAPHQL_MAX_ALIASES: '5',
      GRAPHQL_MAX_TOKENS: '300',
      MAX_BODY_BYTES: '4096',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a document deeper than the limit', async () => {
    const ok = await t.gql('{ profiles { edges { node { id } } } }');
    expect(ok.errors).toBeUndefined();
    const deep = await t.gql(
      '{ a: sessions { id } me { profile { id } } x: profiles { edges { node { id } } pageInfo { hasNextPage } } }',
    );
    expect(deep.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
    const tooDeep = await t.gql('{ users { edges { node { profile { id } } } } }');
    expect(codeOf(tooDeep)).toBe('BAD_USER_INPUT');
    expect(tooDeep.errors![0]!.message).toMatch(/depth/i);
  });

  it('refuses too many aliases', async () => {
    const aliases = Array.from({ length: 6 }, (_, i) => `p${i}: profiles(first: 1) { edges { cursor } }`).join(' ');
    const res = await t.gql(`{ ${aliases} }`);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.message).toMatch(/alias/i);
  });

  it('refuses a document with too many tokens', async () => {
    const fields = Array.from({ length: 310 }, () => '__typename').join(' ');
    const res = await t.gql(`{ ${fields} }`);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.message).toMatch(/token/i);
  });

  it('refuses a body over MAX_BODY_BYTES with 413 before parsing it', async () => {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(5000)}` }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe(
      'BAD_USER_INPUT',
    );
  });

  it('refuses a simple GET without a preflight-forcing header (CSRF) and serves one with it', async () => {
    const url = `${t.url}?query=${encodeURIComponent('{ __typename }')}`;
    const bare = await fetch(url);
    expect(bare.status).toBe(403);
    expect(
      ((await bare.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code,
    ).toBe('FORBIDDEN');
    const withHeader = await fetch(url, { headers: { 'x-graphql-yoga-csrf': '1' } });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('refuses mutations over GET', async () => {
    const url = `${t.url}?query=${encodeURIComponent('mutation { signOut }')}`;
    const res = await fetch(url, { headers: { 'x-graphql-yoga-csrf': '1' } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });
});

describe('production mode', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('turns introspection off', async () => {
    const res = await t.gql('{ __schema { types { name } } }');
    expect(res.data?.__schema ?? null).toBeNull();
    expect(res.errors?.length).toBeGreaterThan(0);
  });

  it('gives no field suggestions', async () => {
    const res = await t.gql('{ profils { edges { cursor } } }');
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(res)).not.toMatch(/Did you mean/i);
  });

  it('serves no GraphiQL', async () => {
    const res = await fetch(t.url, { headers: { accept: 'text/html' } });
    expect(await res.text()).not.toMatch(/<html/i);
  });

  it('allows only the configured CORS origins', async () => {
    const preflight = (origin: string) =>
      fetch(t.url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
    expect((await preflight('https://app.example')).headers.get('access-control-allow-origin')).toBe(
      'https://app.example',
    );
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('keeps introspection and suggestions in development', async () => {
    const dev = await startGateway({});
    try {
      const res = await dev.gql('{ __schema { queryType { name } } }');
      expect(res.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
      const typo = await dev.gql('{ profils { edges { cursor } } }');
      expect(JSON.stringify(typo)).toMatch(/Did you mean/i);
    } finally {
      await dev.close();
    }
  });
});
