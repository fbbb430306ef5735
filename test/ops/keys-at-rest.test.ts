import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, type JWK } from 'jose';
import postgres from 'postgres';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { loadSealingKeys, openPrivateJwk, rotateSigningKey } from '../../src/auth/signing-keys.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { createTestDatabase } from '../../src/testing/index.js';
import { email, ME, NO_RATE_LIMITS, PASSWORD, SIGN_IN, SIGN_UP, startGateway, type TestGateway } from '../helpers.js';

/**
 * Private signing keys are sealed with a key kept outside the database (SECRETS_KEY, else
 * DATA_DIR/secrets.key): proven on real gateways and read back with SQL.
 */

type KeyRow = { kid: string; public_jwk: JWK; private_jwk: JWK | null; sealed: string | null; retired: boolean };

const newKey = () => randomBytes(32).toString('base64url');
const sealingWith = (current: string, previous?: string) =>
  loadSealingKeys({ secretsKey: { current, previous }, dataDir: '.data', env: 'test' });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fresh database of the run's Postgres, dropped after the test; `admin` is its superuser. */
async function freshDatabase(): Promise<{ url: string; admin: postgres.Sql }> {
  const database = await createTestDatabase(inject('adminUrl'));
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  cleanups.push(async () => {
    await admin.end();
    await database.drop();
  });
  return { url: database.url, admin };
}

type Running = { close: () => Promise<void>; gql: (query: string, variables?: object, token?: string) => Promise<any> };

/** A gateway on `dbUrl` with `env`, as an operator would start it (closed after the test). */
async function start(dbUrl: string, env: Record<string, string>, logs?: string[]): Promise<Running> {
  const gateway: Gateway = await createGateway(
    loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...NO_RATE_LIMITS, ...env }),
    dbUrl,
    logs ? { logDestination: { write: (line: string) => void logs.push(line) } } : {},
  );
  let closed = false;
  const close = async () => {
    if (!closed) await gateway.close();
    closed = true;
  };
  cleanups.push(close);
  const url = `http://127.0.0.1:${await gateway.listen(0, '127.0.0.1')}/graphql`;
  return {
    close,
    gql: async (query, variables, token) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return res.json();
    },
  };
}

const rowsOf = (admin: postgres.Sql) =>
  admin<KeyRow[]>`
    select kid, public_jwk, private_jwk, sealed_private_jwk as sealed, retired_at is not null as retired
    from auth.signing_keys order by created_at`;

/** Signs up through `g`; returns the access token and the kid that signed it. */
async function signUpVia(g: Running): Promise<{ token: string; kid: string; mail: string; userId: string }> {
  const mail = email('keys');
  const res = await g.gql(SIGN_UP, { input: { email: mail, password: PASSWORD } });
  const token = res.data.signUp.accessToken as string;
  return { token, kid: decodeProtectedHeader(token).kid!, mail, userId: res.data.signUp.user.id };
}

const meId = async (g: Running, token: string) => (await g.gql(ME, {}, token)).data?.me?.id;

/** Refuses the promise and returns the error's message. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a failure');
}

describe('private signing keys at rest', () => {
  let t: TestGateway;
  afterAll(async () => {
    await t?.close();
  });

  it('keeps no plain private key in auth.signing_keys, after start-up and after a rotation', async () => {
    t = await startGateway();
    const sealing = sealingWith(t.secretsKey);
    await rotateSigningKey(t.admin, sealing);
    const rows = await rowsOf(t.admin);
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.private_jwk).toBeNull();
      expect(r.sealed).toMatch(/^v1:[\w-]+:[\w-]+:[\w-]+$/);
      const jwk = openPrivateJwk(sealing, r.kid, r.sealed!);
      expect(jwk.d).toEqual(expect.any(String));
      expect(r.sealed).not.toContain(jwk.d);
      // The pair it opens to is the row's: same public point.
      expect({ x: jwk.x, y: jwk.y }).toEqual({ x: r.public_jwk.x, y: r.public_jwk.y });
      // Bound to its kid: the same ciphertext under another row's kid does not open.
      const other = rows.find((o) => o.kid !== r.kid)!.kid;
      expect(() => openPrivateJwk(sealing, other, r.sealed!)).toThrow(`signing key ${other}`);
    }
  });

  it('seals a plain-text key an older version wrote, and keeps verifying and signing with it', async () => {
    const db = await freshDatabase();
    const a = newKey();
    const first = await start(db.url, { SECRETS_KEY: a });
    const before = await signUpVia(first);
    await first.close();
    // What an older version left behind: the private JWK in clear, nothing sealed.
    const [row] = await rowsOf(db.admin);
    const jwk = openPrivateJwk(sealingWith(a), row!.kid, row!.sealed!);
    await db.admin`update auth.signing_keys set private_jwk = ${JSON.stringify(jwk)}::text::jsonb,
                   sealed_private_jwk = null where kid = ${row!.kid}`;

    // Another key than the one before: a plain row needs none to be sealed.
    const b = newKey();
    const second = await start(db.url, { SECRETS_KEY: b });
    const [sealed] = await rowsOf(db.admin);
    expect(sealed).toMatchObject({ kid: row!.kid, private_jwk: null });
    expect(openPrivateJwk(sealingWith(b), sealed!.kid, sealed!.sealed!)).toEqual(jwk);
    expect(await meId(second, before.token)).toBe(before.userId);
    const after = await second.gql(SIGN_IN, { input: { email: before.mail, password: PASSWORD } });
    expect(decodeProtectedHeader(after.data.signIn.accessToken).kid).toBe(row!.kid);
  });

  it('rotates SECRETS_KEY: old tokens keep verifying, new ones are signed, and rows then open with the new key only', async () => {
    const db = await freshDatabase();
    const a = newKey();
    const b = newKey();
    const first = await start(db.url, { SECRETS_KEY: a, SIGNING_KEYS_RELOAD_S: '1' });
    const old = await signUpVia(first);

    // A rolling restart: the first instance to restart re-seals the rows with B...
    const rotating = await start(db.url, { SECRETS_KEY: b, SECRETS_KEY_PREVIOUS: a });
    expect(await meId(rotating, old.token)).toBe(old.userId);
    // ...and one still running on A, having reloaded its keys since, keeps signing.
    await new Promise((r) => setTimeout(r, 1500));
    const meanwhile = await first.gql(SIGN_IN, { input: { email: old.mail, password: PASSWORD } });
    expect(decodeProtectedHeader(meanwhile.data.signIn.accessToken).kid).toBe(old.kid);
    expect(await meId(rotating, meanwhile.data.signIn.accessToken)).toBe(old.userId);
    await first.close();

    const signedIn = await rotating.gql(SIGN_IN, { input: { email: old.mail, password: PASSWORD } });
    const fresh = signedIn.data.signIn.accessToken as string;
    expect(await meId(rotating, fresh)).toBe(old.userId);
    for (const r of await rowsOf(db.admin)) {
      expect(r.private_jwk).toBeNull();
      expect(openPrivateJwk(sealingWith(b), r.kid, r.sealed!).d).toEqual(expect.any(String));
      expect(() => openPrivateJwk(sealingWith(a), r.kid, r.sealed!)).toThrow(`signing key ${r.kid}`);
    }
    await rotating.close();

    // The previous key is no longer needed.
    const after = await start(db.url, { SECRETS_KEY: b });
    expect(await meId(after, old.token)).toBe(old.userId);
    expect(await meId(after, fresh)).toBe(old.userId);
    const again = await after.gql(SIGN_IN, { input: { email: old.mail, password: PASSWORD } });
    expect(await meId(after, again.data.signIn.accessToken)).toBe(old.userId);
    await after.close();

    // And the old key alone opens nothing any more.
    const message = await failure(start(db.url, { SECRETS_KEY: a }));
    expect(message).toContain(`signing key ${old.kid}`);
  });

  it('refuses to start with a key that opens no row, naming the kid and the fix but never a key, and changes nothing', async () => {
    const db = await freshDatabase();
    const right = newKey();
    const first = await start(db.url, { SECRETS_KEY: right });
    await first.close();
    const [before] = await rowsOf(db.admin);

    const wrong = newKey();
    const message = await failure(start(db.url, { SECRETS_KEY: wrong }));
    expect(message).toContain(`signing key ${before!.kid}`);
    expect(message).toContain('cannot be opened with SECRETS_KEY');
    expect(message).toContain('SECRETS_KEY_PREVIOUS');
    for (const k of [right, wrong]) expect(message).not.toContain(k);

    const alsoWrong = newKey();
    const withPrevious = await failure(start(db.url, { SECRETS_KEY: wrong, SECRETS_KEY_PREVIOUS: alsoWrong }));
    expect(withPrevious).toContain('nor with SECRETS_KEY_PREVIOUS');
    for (const k of [right, wrong, alsoWrong]) expect(withPrevious).not.toContain(k);

    expect(await rowsOf(db.admin)).toEqual([before]);
  });

  it('without SECRETS_KEY keeps its key in DATA_DIR/secrets.key (0600, made once) and, in production, says so in one warning', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'authgate-keys-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const db = await freshDatabase();
    const logs: string[] = [];
    const prod = await start(db.url, { NODE_ENV: 'production', LOG_LEVEL: 'warn', DATA_DIR: dataDir }, logs);
    const file = join(dataDir, 'secrets.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const key = (await readFile(file, 'utf8')).trim();
    expect(key.length).toBeGreaterThanOrEqual(32);
    const warnings = logs.filter((l) => l.includes('SECRETS_KEY'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(file);
    expect(warnings[0]).toContain('keep it out of database backups');
    expect(logs.join('\n')).not.toContain(key);
    const user = await signUpVia(prod);
    await prod.close();

    // The same file next time: the rows still open, tokens still verify.
    const quiet: string[] = [];
    const dev = await start(db.url, { DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, quiet);
    expect(quiet.filter((l) => l.includes('SECRETS_KEY'))).toEqual([]);
    expect((await readFile(file, 'utf8')).trim()).toBe(key);
    expect(await meId(dev, user.token)).toBe(user.userId);
    for (const r of await rowsOf(db.admin)) expect(openPrivateJwk(sealingWith(key), r.kid, r.sealed!).d).toBeTruthy();
  });
});

describe('SECRETS_KEY configuration', () => {
  const configError = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('loadConfig accepted it');
  };

  it('refuses a key shorter than 32 characters, naming the variable but never the value', () => {
    const short = 'S3cret-but-short-x';
    const message = configError({ SECRETS_KEY: short });
    expect(message).toContain('SECRETS_KEY');
    expect(message).not.toContain(short);
    const previous = configError({ SECRETS_KEY: newKey(), SECRETS_KEY_PREVIOUS: short });
    expect(previous).toContain('SECRETS_KEY_PREVIOUS');
    expect(previous).not.toContain(short);
  });

  it('refuses SECRETS_KEY_PREVIOUS without SECRETS_KEY (a half-done rotation)', () => {
    const previous = newKey();
    const message = configError({ SECRETS_KEY_PREVIOUS: previous });
    expect(message).toContain('SECRETS_KEY_PREVIOUS');
    expect(message).not.toContain(previous);
  });
});
