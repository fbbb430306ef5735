import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** The error loadConfig throws for `env`, or a failure when it throws nothing. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(4000);
    expect(c.jwt.accessTtlS).toBe(3600);
    expect(c.refresh.reuseIntervalS).toBe(10);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toBe('.data');
  });

  it('treats an empty variable as unset', () => {
    const c = loadConfig({ PORT: '', ACCESS_TOKEN_TTL_S: '', REFRESH_REUSE_INTERVAL_S: '' });
    expect(c.port).toBe(4000);
    expect(c.jwt.accessTtlS).toBe(3600);
    expect(c.refresh.reuseIntervalS).toBe(10);
  });

  it('reads the values an operator sets', () => {
    const secret = 's'.repeat(32);
    const c = loadConfig({
      PORT: '8080',
      ACCESS_TOKEN_TTL_S: '900',
      REFRESH_REUSE_INTERVAL_S: '0',
      JWT_SECRET: secret,
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
    });
    expect(c.port).toBe(8080);
    expect(c.jwt.accessTtlS).toBe(900);
    expect(c.refresh.reuseIntervalS).toBe(0);
    expect(c.jwt.secret).toBe(secret);
    expect(c.databaseUrl).toBe('postgres://u:p@127.0.0.1:5432/db');
  });

  it('signs with ES256 by default, takes HS256 on request and refuses any other JWT_ALG', () => {
    expect(loadConfig({}).jwt.alg).toBe('ES256');
    expect(loadConfig({ JWT_ALG: 'HS256', JWT_SECRET: 'h'.repeat(32) }).jwt.alg).toBe('HS256');
    expect(configError({ JWT_ALG: 'none' }).message).toContain('JWT_ALG');
  });

  it('accepts the edge ports 0 and 65535', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }).port).toBe(65535);
  });

  it.each(['abc', '70000', '65536', '-1', '80.5'])('refuses PORT=%s with a ConfigError naming PORT', (port) => {
    const err = configError({ PORT: port });
    expect(err.name).toBe('ConfigError');
    // PORT itself, not only EMBEDDED_PG_PORT or another *_PORT.
    expect(err.message).toMatch(/(^|[^A-Z_])PORT\b/);
    expect(err.message).not.toContain('EMBEDDED_PG_PORT');
  });

  it('refuses a short JWT_SECRET naming the variable but never echoing the secret', () => {
    const secret = 'Sup3rS3cretValue-xyz';
    const err = configError({ JWT_SECRET: secret });
    expect(err.message).toContain('JWT_SECRET');
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain('Sup3rS3cret');
  });

  it('accepts a JWT_SECRET of exactly 32 characters and refuses one of 31', () => {
    expect(loadConfig({ JWT_SECRET: 'k'.repeat(32) }).jwt.secret).toBe('k'.repeat(32));
    expect(configError({ JWT_SECRET: 'k'.repeat(31) }).message).toContain('JWT_SECRET');
  });

  it('refuses an access-token TTL below its minimum, naming it', () => {
    expect(configError({ ACCESS_TOKEN_TTL_S: '5' }).message).toContain('ACCESS_TOKEN_TTL_S');
    expect(configError({ REFRESH_REUSE_INTERVAL_S: 'soon' }).message).toContain('REFRESH_REUSE_INTERVAL_S');
  });
});

describe('identity provider names and issuers', () => {
  const secret = 'Cl13ntS3cret-never-shown';
  const issuer = (name: string, iss = `https://${name}.example.test`) => ({ name, issuer: iss, audiences: ['app'] });
  const provider = (name: string) => ({
    name,
    issuer: `https://${name}-oidc.example.test`,
    clientId: 'client',
    clientSecret: secret,
  });
  const lists = (issuers: unknown[], providers: unknown[]) => ({
    TRUSTED_ISSUERS: JSON.stringify(issuers),
    OIDC_PROVIDERS: JSON.stringify(providers),
  });

  it('accepts distinct names across TRUSTED_ISSUERS and OIDC_PROVIDERS', () => {
    const c = loadConfig(lists([issuer('clerk'), issuer('logto')], [provider('google'), provider('github')]));
    expect(c.trustedIssuers.map((i) => i.name)).toEqual(['clerk', 'logto']);
    expect(c.oidc.providers.map((p) => p.name)).toEqual(['google', 'github']);
  });

  it('refuses a name used by a trusted issuer and an OIDC provider, naming the variable, never the secret', () => {
    const err = configError(lists([issuer('acme')], [provider('acme')]));
    expect(err.message).toContain('OIDC_PROVIDERS');
    expect(err.message).toContain('"acme"');
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain('Cl13nt');
  });

  it('still refuses a name used twice within one list', () => {
    expect(configError(lists([issuer('acme'), issuer('acme', 'https://other.example.test')], [])).message).toContain(
      'TRUSTED_ISSUERS',
    );
    const twice = configError(lists([], [provider('acme'), provider('acme')]));
    expect(twice.message).toContain('OIDC_PROVIDERS');
    expect(twice.message).not.toContain(secret);
  });

  it('refuses a trusted issuer whose issuer is "email", the issuer of password identities', () => {
    const err = configError(lists([issuer('mail', 'email')], []));
    expect(err.message).toContain('TRUSTED_ISSUERS');
    expect(err.message).toContain('issuer');
    // The name "email" was refused already; it stays refused in both lists.
    expect(configError(lists([issuer('email')], [])).message).toContain('TRUSTED_ISSUERS');
    expect(configError(lists([], [provider('email')])).message).toContain('OIDC_PROVIDERS');
  });
});

describe('trusted documents', () => {
  it('is off by default, takes comma-separated manifests and keeps GraphiQL away from only-mode', () => {
    expect(loadConfig({}).trustedDocuments).toEqual({ files: [], only: false });
    const c = loadConfig({
      TRUSTED_DOCUMENTS: ' a.json, ,b/persisted-documents.json ',
      TRUSTED_DOCUMENTS_ONLY: 'true',
    });
    expect(c.trustedDocuments).toEqual({ files: ['a.json', 'b/persisted-documents.json'], only: true });
    // GraphiQL sends text of its own, which only-mode refuses: off by default, and not both on request.
    expect(c.graphiql).toBe(false);
    expect(loadConfig({ TRUSTED_DOCUMENTS: 'a.json' }).graphiql).toBe(true);
    expect(
      configError({ TRUSTED_DOCUMENTS: 'a.json', TRUSTED_DOCUMENTS_ONLY: 'true', GRAPHIQL: 'true' }).message,
    ).toContain('GRAPHIQL');
    // Only-mode with no manifest would refuse every request.
    expect(configError({ TRUSTED_DOCUMENTS_ONLY: 'true' }).message).toContain('TRUSTED_DOCUMENTS');
    expect(configError({ TRUSTED_DOCUMENTS_ONLY: 'maybe' }).message).toContain('TRUSTED_DOCUMENTS_ONLY');
  });
});

describe('refresh-token cookie mode', () => {
  it('is off by default and takes its documented defaults when on', () => {
    expect(loadConfig({}).refreshTokenCookie).toBeNull();
    expect(loadConfig({ REFRESH_TOKEN_COOKIE: 'on' }).refreshTokenCookie).toEqual({
      name: 'authgate-refresh-token',
      path: '/graphql',
      sameSite: 'Lax',
      domain: null,
      maxAgeS: 30 * 24 * 3600,
    });
    const c = loadConfig({
      REFRESH_TOKEN_COOKIE: 'on',
      REFRESH_TOKEN_COOKIE_NAME: '__Secure-rt',
      REFRESH_TOKEN_COOKIE_PATH: '/',
      REFRESH_TOKEN_COOKIE_SAMESITE: 'strict',
      REFRESH_TOKEN_COOKIE_DOMAIN: 'example.com',
      REFRESH_TOKEN_TTL_S: '86400',
      SESSION_TIMEBOX_S: '3600',
    });
    // The cookie outlives neither the refresh token nor the session's timebox.
    expect(c.refreshTokenCookie).toEqual({
      name: '__Secure-rt',
      path: '/',
      sameSite: 'Strict',
      domain: 'example.com',
      maxAgeS: 3600,
    });
  });

  it('refuses SameSite=none, which the CSRF defence cannot do without', () => {
    const err = configError({ REFRESH_TOKEN_COOKIE: 'on', REFRESH_TOKEN_COOKIE_SAMESITE: 'none' });
    expect(err.message).toContain('REFRESH_TOKEN_COOKIE_SAMESITE');
    expect(err.message).toContain('CSRF');
  });

  it('refuses bad attributes, and attributes set while the mode is off, naming the variable', () => {
    const on = { REFRESH_TOKEN_COOKIE: 'on' };
    expect(configError({ REFRESH_TOKEN_COOKIE: 'yes' }).message).toContain('REFRESH_TOKEN_COOKIE');
    expect(configError({ ...on, REFRESH_TOKEN_COOKIE_NAME: 'a b' }).message).toContain('REFRESH_TOKEN_COOKIE_NAME');
    expect(configError({ ...on, REFRESH_TOKEN_COOKIE_PATH: 'graphql' }).message).toContain('REFRESH_TOKEN_COOKIE_PATH');
    expect(configError({ ...on, REFRESH_TOKEN_COOKIE_PATH: '/a;b' }).message).toContain('REFRESH_TOKEN_COOKIE_PATH');
    expect(configError({ ...on, REFRESH_TOKEN_COOKIE_SAMESITE: 'lenient' }).message).toContain(
      'REFRESH_TOKEN_COOKIE_SAMESITE',
    );
    expect(configError({ ...on, REFRESH_TOKEN_COOKIE_DOMAIN: '.example.com' }).message).toContain(
      'REFRESH_TOKEN_COOKIE_DOMAIN',
    );
    // A __Host- cookie must be host-only at Path=/, or browsers drop it.
    expect(configError({ ...on, REFRESH_TOKEN_COOKIE_NAME: '__Host-rt' }).message).toContain('__Host-');
    expect(loadConfig({ ...on, REFRESH_TOKEN_COOKIE_NAME: '__Host-rt', REFRESH_TOKEN_COOKIE_PATH: '/' })).toBeTruthy();
    const stray = configError({ REFRESH_TOKEN_COOKIE_PATH: '/' });
    expect(stray.message).toContain('REFRESH_TOKEN_COOKIE_PATH');
    expect(stray.message).toContain('REFRESH_TOKEN_COOKIE=on');
  });
});

describe('.env.example', () => {
  it('lists every variable the configuration reads, and its values parse', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const entries = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^[A-Z_0-9]+=/.test(l))
      .map((l) => {
        const [name, ...rest] = l.split('=');
        return [
          name!,
          rest
            .join('=')
            .replace(/\s+#.*$/, '')
            .trim(),
        ] as const;
      });
    const listed = entries.map(([n]) => n).sort();
    const source = readFileSync(new URL('../../src/config.ts', import.meta.url), 'utf8');
    const read = [...source.matchAll(/^ {2}([A-Z_0-9]+): /gm)].map((m) => m[1]!).sort();
    expect(listed).toEqual(read);
    expect(() => loadConfig(Object.fromEntries(entries))).not.toThrow();
  });
});
