import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchLegacyHashes } from '../../src/auth/legacy-hashes.js';
import { createPasswordHasher } from '../../src/auth/password.js';
import { checkHash } from '../../src/auth/password-formats.js';
import { createLogger } from '../../src/log.js';
import { AUTH0_ID_NAMESPACE, uuidV5 } from '../../src/ops/users-import.js';
import { codeOf, SIGN_IN, signUp, startGateway, type TestGateway } from '../helpers.js';

const run = promisify(execFile);
const FIXTURES = join(import.meta.dirname, '../fixtures/users-import');

const ADA = '0b6a3c1e-5d2f-4a8b-9c7d-1e2f3a4b5c6d';
const GRACE = '1c7b4d2f-6e3a-4b9c-8d0e-2f3a4b5c6d7e';
const LINUS = '2d8c5e3a-7f4b-4c0d-9e1f-3a4b5c6d7e8f';
const MARGARET = '4f0e7a5c-9b6d-4e2f-9a3b-5c6d7e8f9012';
const BARBARA = '5a1f8b6d-0c7e-4f3a-8b4c-6d7e8f901234';
const EDSGER = '6b2a9c7e-1d8f-4a4b-9c5d-7e8f90123456';
const ALAN = '7c3b0d8f-2e9a-4b5c-8d6e-8f9012345678';
/** The gateway's argon2 cost (the defaults of ARGON2_*). */
const OUR_ARGON2 = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };
const GOOGLE_ISSUER = 'https://accounts.google.com';
const OIDC_PROVIDERS = JSON.stringify([
  { name: 'google', issuer: GOOGLE_ISSUER, clientId: 'test-client', clientSecret: 'test-secret' },
]);

/**
 * The fixtures name hashes by their password; they are made here, at test time, with the
 * bcrypt package (cost 10, as Supabase and Auth0 write them; 4 for the "weak" one) and
 * argon2 (with parameters unlike the gateway's, so a sign-in must rehash them).
 */
async function materialise(dir: string, name: string): Promise<{ path: string; text: string }> {
  let text = await readFile(join(FIXTURES, name), 'utf8');
  for (const m of [...text.matchAll(/\{\{([a-z0-9-]+):([^}]+)\}\}/g)]) {
    const [whole, kind, password] = m as unknown as [string, string, string];
    const hash =
      kind === 'argon2'
        ? await argon2.hash(password, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 })
        : kind === 'bcrypt-weak'
          ? bcrypt.hashSync(password, 4)
          : kind === 'bcrypt-2y'
            ? bcrypt.hashSync(password, 10).replace(/^\$2b\$/, '$2y$')
            : bcrypt.hashSync(password, 10);
    text = text.replace(whole, hash);
  }
  const path = join(dir, name);
  await writeFile(path, text);
  return { path, text };
}

const lineOf = (text: string, needle: string): number => {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  // The record starts at the nearest "{" line above (a JSON array element) or on the line itself.
  let start = i;
  while (start > 0 && lines[start]?.trim() !== '{') start--;
  return (lines[start]?.trim() === '{' ? start : i) + 1;
};

type Cli = { code: number; stdout: string; stderr: string };

describe('authgate users:import', () => {
  let t: TestGateway;
  let dir: string;
  let supabase: { path: string; text: string };
  let identitiesCsv: string;
  let auth0Users: { path: string; text: string };
  let auth0Passwords: string;

  const cli = async (env: Record<string, string>, ...args: string[]): Promise<Cli> => {
    try {
      const { stdout, stderr } = await run('node', ['bin/authgate.mjs', 'users:import', ...args], {
        env: { ...process.env, DATABASE_URL: t.dbUrl, SECRETS_KEY: t.secretsKey, OIDC_PROVIDERS, ...env },
        timeout: 90_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const importSupabase = (...extra: string[]) =>
    cli({}, '--from', 'supabase', '--users', supabase.path, '--identities', identitiesCsv, ...extra);
  const signIn = (email: string, password: string) => t.gql(SIGN_IN, { input: { email, password } });
  const hashOf = async (id: string): Promise<string | null> =>
    (await t.admin<{ h: string | null }[]>`select encrypted_password as h from auth.users where id = ${id}`)[0]?.h ??
    null;
  /** Everything an import writes, to compare before and after. */
  const snapshot = async () => ({
    users: await t.admin`select * from auth.users order by id`,
    identities:
      await t.admin`select user_id, provider, issuer, provider_id from auth.identities order by user_id, issuer, provider_id`,
    profiles: await t.admin`select * from public.profiles order by id`,
  });

  beforeAll(async () => {
    t = await startGateway({ OIDC_PROVIDERS });
    dir = await mkdtemp(join(tmpdir(), 'authgate-import-'));
    supabase = await materialise(dir, 'supabase-users.json');
    identitiesCsv = (await materialise(dir, 'supabase-identities.csv')).path;
    auth0Users = await materialise(dir, 'auth0-users.ndjson');
    auth0Passwords = (await materialise(dir, 'auth0-passwords.ndjson')).path;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a dry run reports what it would do and writes nothing', async () => {
    const before = await snapshot();
    const res = await importSupabase('--dry-run');
    expect(res.stdout).toContain('would create 7, already present 0, conflicts 0, errors 1');
    expect(res.stdout).toContain('dry run: nothing was written');
    expect(await snapshot()).toEqual(before);
  }, 120_000);

  it('imports Supabase users with their ids, reports the bad row by line, and prints no hash', async () => {
    const res = await importSupabase();
    expect(res.code).toBe(1); // one row was skipped
    expect(res.stdout).toContain(
      `supabase-users.json:${lineOf(supabase.text, '"not-a-uuid"')}: skipped: id must be a UUID`,
    );
    expect(res.stdout).toContain('created 7, already present 0, conflicts 0, errors 1, not imported: 1 deleted');
    expect(res.stdout).toContain(
      'without a password (they sign in with a mailed link or recover): 3 (no password 1, unknown hash format 1, weak hash 1)',
    );
    // github is not configured here: its identity is counted and left out.
    expect(res.stdout).toContain('identities of providers not configured here, not imported: 1');
    expect(`${res.stdout}${res.stderr}`).not.toMatch(/\$2[aby]\$|\$argon2|original-pass|sha1\$/);

    const rows = await t.admin<{ id: string; email: string; email_confirmed_at: Date | null }[]>`
      select id, email, email_confirmed_at from auth.users order by email`;
    expect(rows.map((r) => r.id).sort()).toEqual([ADA, GRACE, LINUS, MARGARET, BARBARA, EDSGER, ALAN].sort());
    const [ada] = await t.admin`select * from auth.users where id = ${ADA}`;
    expect(ada?.email_confirmed_at).toEqual(new Date('2024-03-01T10:00:00.000Z'));
    expect(ada?.created_at).toEqual(new Date('2024-03-01T09:59:00.000Z'));
    expect(ada?.raw_app_meta_data).toEqual({ plan: 'pro', provider: 'email', providers: ['email'] });
    expect(ada?.raw_user_meta_data).toEqual({ full_name: 'Ada Lovelace', username: 'ada_l' });
    const [profile] = await t.admin`select username, full_name from public.profiles where id = ${ADA}`;
    expect(profile).toEqual({ username: 'ada_l', full_name: 'Ada Lovelace' });
    // Margaret came with Google only: her identity, keyed by the configured issuer.
    const ids =
      await t.admin`select provider, issuer, provider_id, identity_data from auth.identities where user_id = ${MARGARET}`;
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatchObject({ provider: 'google', issuer: GOOGLE_ISSUER, provider_id: '109876543210987654321' });
    expect(ids[0]?.identity_data.name).toBe('Margaret, "Maggie" Hamilton');
    expect(
      (await t.admin`select raw_app_meta_data from auth.users where id = ${MARGARET}`)[0]?.raw_app_meta_data,
    ).toEqual({
      provider: 'google',
      providers: ['google'],
    });
  }, 120_000);

  it('signs a bcrypt user in with the original password, and the hash becomes argon2id', async () => {
    expect(await hashOf(ADA)).toMatch(/^\$2b\$10\$/);
    const wrong = await signIn('ada@example.com', 'not-her-password');
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    expect(await hashOf(ADA)).toMatch(/^\$2b\$10\$/); // a wrong password upgrades nothing

    const res = await signIn('ada@example.com', 'ada-original-pass');
    expect(res.errors).toBeUndefined();
    expect(res.data?.signIn.user.id).toBe(ADA);
    const upgraded = await hashOf(ADA);
    expect(upgraded).toMatch(/^\$argon2id\$/);
    expect(argon2.needsRehash(upgraded ?? '', OUR_ARGON2)).toBe(false);
    // The new hash is of the same password, and the old one is gone.
    expect(await argon2.verify(upgraded ?? '', 'ada-original-pass')).toBe(true);
    expect(codeOf(await signIn('ada@example.com', 'not-her-password'))).toBe('INVALID_CREDENTIALS');
    expect((await signIn('ada@example.com', 'ada-original-pass')).errors).toBeUndefined();
  }, 60_000);

  it('an imported argon2 hash of other parameters is verified, then rehashed with ours', async () => {
    expect(await hashOf(EDSGER)).toMatch(/^\$argon2id\$v=19\$.*m=8192/);
    expect(codeOf(await signIn('edsger@example.com', 'wrong-password-here'))).toBe('INVALID_CREDENTIALS');
    expect(await hashOf(EDSGER)).toMatch(/m=8192/);
    expect((await signIn('edsger@example.com', 'edsger-original-pass')).errors).toBeUndefined();
    const rehashed = await hashOf(EDSGER);
    expect(rehashed).toMatch(/^\$argon2id\$/);
    expect(argon2.needsRehash(rehashed ?? '', OUR_ARGON2)).toBe(false);
  }, 60_000);

  it('an unconfirmed address stays unconfirmed after import and after sign-in', async () => {
    const [grace] = await t.admin`select email, pending_email, email_confirmed_at from auth.users where id = ${GRACE}`;
    // This gateway does not require confirmation: she signs in, as a registration would.
    expect(grace).toEqual({ email: 'grace@example.com', pending_email: null, email_confirmed_at: null });
    const res = await t.gql<{ signIn: { accessToken: string } }>(
      `mutation($input: SignInInput!) { signIn(input: $input) { accessToken user { emailConfirmedAt } } }`,
      { input: { email: 'grace@example.com', password: 'grace-original-pass' } },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.signIn).toMatchObject({ user: { emailConfirmedAt: null } });
    expect(
      (await t.admin`select email_confirmed_at from auth.users where id = ${GRACE}`)[0]?.email_confirmed_at,
    ).toBeNull();
  }, 60_000);

  it('a hash of an unknown or weak form lets nobody in: the user is imported without a password', async () => {
    expect(await hashOf(LINUS)).toBeNull();
    expect(await hashOf(ALAN)).toBeNull();
    expect(await hashOf(MARGARET)).toBeNull();
    for (const [email, password] of [
      ['linus@example.com', 'sha1$5f4dcc3b5aa765d61d8327deb882cf99'],
      ['linus@example.com', 'password'],
      ['alan@example.com', 'alan-original-pass'],
      ['margaret@example.com', ''],
    ] as const) {
      expect(codeOf(await signIn(email, password))).toBe('INVALID_CREDENTIALS');
    }
  }, 60_000);

  it('a banned imported user is refused after the password, and the hash is not upgraded', async () => {
    const res = await signIn('barbara@example.com', 'barbara-original-pass');
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(res.errors?.[0]?.message).toBe('This account is banned.');
    expect(res.data?.signIn ?? null).toBeNull();
    expect(await hashOf(BARBARA)).toMatch(/^\$2b\$10\$/);
  }, 60_000);

  it('the gateway knows while bcrypt hashes remain, so every password check pays for both algorithms', async () => {
    const watch = watchLegacyHashes(t.admin, createLogger('silent'));
    try {
      await watch.refresh();
      expect(watch.present()).toBe(true); // Barbara's, never upgraded (banned)
    } finally {
      watch.stop();
    }
  });

  it('a rerun changes nothing, and says so', async () => {
    const before = await snapshot();
    const res = await importSupabase();
    expect(res.stdout).toContain('created 0, already present 7, conflicts 0, errors 1');
    expect(await snapshot()).toEqual(before);
    // Ada's upgraded hash was not put back to the exported bcrypt one.
    expect(await hashOf(ADA)).toMatch(/^\$argon2id\$/);
  }, 120_000);

  it('imports an Auth0 export with its password hash export; ids become stable UUIDs', async () => {
    const args = ['--from', 'auth0', '--users', auth0Users.path, '--passwords', auth0Passwords];
    const res = await cli({}, ...args, '--provider', 'google-oauth2=google');
    expect(res.stdout).toContain(
      `auth0-users.ndjson:${lineOf(auth0Users.text, 'not an address')}: skipped: BAD_USER_INPUT: The email address is not valid.`,
    );
    expect(res.stdout).toContain('created 4, already present 0, conflicts 0, errors 1');
    expect(`${res.stdout}${res.stderr}`).not.toMatch(/\$2[aby]\$|original-pass/);
    const hedy = uuidV5(AUTH0_ID_NAMESPACE, 'auth0|60425dc43519d90068f82973');
    const [row] =
      await t.admin`select email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data from auth.users where id = ${hedy}`;
    expect(row).toMatchObject({
      email: 'hedy@example.com',
      raw_app_meta_data: { roles: ['editor'], provider: 'email' },
    });
    expect(row?.email_confirmed_at).not.toBeNull();
    expect(row?.raw_user_meta_data).toEqual({ full_name: 'Hedy Lamarr', theme: 'dark' });
    const signedIn = await signIn('hedy@example.com', 'hedy-original-pass');
    expect(signedIn.data?.signIn.user.id).toBe(hedy);
    expect(await hashOf(hedy)).toMatch(/^\$argon2id\$/);
    // An id that is a UUID already is kept as it is; its $2y$ hash verifies.
    expect((await signIn('barbara.l@example.com', 'liskov-original-pass')).data?.signIn.user.id).toBe(
      '9d4c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f',
    );
    const katherine = uuidV5(AUTH0_ID_NAMESPACE, 'auth0|60425dc43519d90068f82974');
    expect(
      (await t.admin`select email_confirmed_at from auth.users where id = ${katherine}`)[0]?.email_confirmed_at,
    ).toBeNull();
    // A second factor binds a bcrypt user as anyone: aal1 and mfaRequired after the password.
    expect(await hashOf(katherine)).toMatch(/^\$2b\$/);
    await t.admin`
      insert into auth.mfa_factors (user_id, factor_type, status, secret)
      values (${katherine}, 'totp', 'verified', 'unused-here')`;
    const mfa = await t.gql<{ signIn: { aal: string; mfaRequired: boolean } }>(
      `mutation($input: SignInInput!) { signIn(input: $input) { aal mfaRequired } }`,
      { input: { email: 'katherine@example.com', password: 'katherine-original-pass' } },
    );
    expect(mfa.data?.signIn).toEqual({ aal: 'aal1', mfaRequired: true });
    expect(await hashOf(katherine)).toMatch(/^\$argon2id\$/);
    const radia = uuidV5(AUTH0_ID_NAMESPACE, 'google-oauth2|112233445566778899');
    const ids = await t.admin`select provider, issuer, provider_id from auth.identities where user_id = ${radia}`;
    expect(ids).toEqual([{ provider: 'google', issuer: GOOGLE_ISSUER, provider_id: '112233445566778899' }]);

    const again = await cli({}, ...args, '--provider', 'google-oauth2=google');
    expect(again.stdout).toContain('created 0, already present 4');
  }, 120_000);

  it('a row whose address or identity another account holds is a conflict, skipped whole', async () => {
    const local = await signUp(t, undefined, 'taken@example.com');
    const path = join(dir, 'conflicts.ndjson');
    const rows = [
      {
        id: '8d4c1f9a-3b0e-4c6d-9e7f-901234567890',
        email: 'taken@example.com',
        email_confirmed_at: '2024-01-01T00:00:00Z',
      },
      // Margaret's Google subject, under another id: nothing of this row may stay.
      {
        id: '9e5d2a0b-4c1f-4d7e-8f9a-012345678901',
        email: 'copycat@example.com',
        email_confirmed_at: '2024-01-01T00:00:00Z',
      },
      { id: 'a0f6e3b1-5d2a-4e8f-9a0b-123456789012', email: 'fine@example.com', email_confirmed_at: null },
    ];
    await writeFile(path, rows.map((r) => JSON.stringify(r)).join('\n'));
    const idsPath = join(dir, 'conflict-identities.ndjson');
    await writeFile(
      idsPath,
      JSON.stringify({
        user_id: rows[1]?.id,
        provider: 'google',
        provider_id: '109876543210987654321',
        identity_data: {},
      }),
    );
    const res = await cli({}, '--from', 'supabase', '--users', path, '--identities', idsPath);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(
      `conflicts.ndjson:1: conflict, skipped: another account (${local.userId}) holds taken@example.com`,
    );
    expect(res.stdout).toContain(
      'conflicts.ndjson:2: conflict, skipped: another account holds the google identity 109876543210987654321',
    );
    expect(res.stdout).toContain('created 1, already present 0, conflicts 2, errors 0');
    const ids = [rows[0]?.id, rows[1]?.id, rows[2]?.id] as string[];
    const present = await t.admin<{ id: string }[]>`select id from auth.users where id = any(${ids})`;
    expect(present.map((r) => r.id)).toEqual([rows[2]?.id]);
    expect((await t.admin`select count(*)::int as n from public.profiles where id = ${rows[1]?.id ?? ''}`)[0]?.n).toBe(
      0,
    );
  }, 120_000);

  it('--strict writes nothing when a row is bad', async () => {
    const other = await startGateway();
    try {
      const res = await (async () => {
        try {
          const { stdout } = await run(
            'node',
            ['bin/authgate.mjs', 'users:import', '--from', 'supabase', '--users', supabase.path, '--strict'],
            { env: { ...process.env, DATABASE_URL: other.dbUrl, SECRETS_KEY: other.secretsKey }, timeout: 90_000 },
          );
          return { code: 0, stdout };
        } catch (err) {
          return err as { code: number; stdout: string };
        }
      })();
      expect(res.code).toBe(1);
      expect(res.stdout).toContain('strict, and a row was bad: nothing was written');
      expect((await other.admin`select count(*)::int as n from auth.users`)[0]?.n).toBe(0);
    } finally {
      await other.close();
    }
  }, 120_000);
});

describe('users:import where addresses need confirmation', () => {
  let t: TestGateway;
  let dir: string;
  beforeAll(async () => {
    t = await startGateway({ REQUIRE_EMAIL_CONFIRMATION: 'true' });
    dir = await mkdtemp(join(tmpdir(), 'authgate-import-'));
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an unconfirmed import holds no address and cannot sign in until its link is used', async () => {
    const watch = watchLegacyHashes(t.admin, createLogger('silent'));
    await watch.refresh();
    watch.stop();
    expect(watch.present()).toBe(false); // nothing imported yet: sign-ins pay for argon2 alone
    const users = await materialise(dir, 'supabase-users.json');
    await run('node', ['bin/authgate.mjs', 'users:import', '--from', 'supabase', '--users', users.path], {
      env: { ...process.env, DATABASE_URL: t.dbUrl, SECRETS_KEY: t.secretsKey, REQUIRE_EMAIL_CONFIRMATION: 'true' },
      timeout: 90_000,
    }).catch((err: { code: number }) => expect(err.code).toBe(1)); // the bad row
    const [grace] = await t.admin`select email, pending_email, email_confirmed_at from auth.users where id = ${GRACE}`;
    expect(grace).toEqual({ email: null, pending_email: 'grace@example.com', email_confirmed_at: null });
    const res = await t.gql(SIGN_IN, { input: { email: 'grace@example.com', password: 'grace-original-pass' } });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'EMAIL_NOT_CONFIRMED' });
    // Nothing was issued, and nothing upgraded: the address is not hers yet.
    expect((await t.admin`select count(*)::int as n from auth.sessions where user_id = ${GRACE}`)[0]?.n).toBe(0);
    const wrong = await t.gql(SIGN_IN, { input: { email: 'grace@example.com', password: 'not-her-password' } });
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    // A confirmed import signs in as usual.
    expect(
      (await t.gql(SIGN_IN, { input: { email: 'ada@example.com', password: 'ada-original-pass' } })).errors,
    ).toBeUndefined();
  }, 120_000);
});

describe('hash formats', () => {
  it('keeps bcrypt of cost 10 or more and argon2 in PHC form, and nothing else', () => {
    const b = bcrypt.hashSync('x', 10);
    expect(checkHash(b)).toEqual({ ok: true, kind: 'bcrypt' });
    expect(checkHash(b.replace('$2b$', '$2a$'))).toEqual({ ok: true, kind: 'bcrypt' });
    expect(checkHash(b.replace('$2b$', '$2y$'))).toEqual({ ok: true, kind: 'bcrypt' });
    expect(checkHash(b.replace('$2b$', '$2x$'))).toEqual({ ok: false, reason: 'unknown_format' });
    expect(checkHash(bcrypt.hashSync('x', 4))).toEqual({ ok: false, reason: 'weak_parameters' });
    expect(checkHash(b.slice(0, -1))).toEqual({ ok: false, reason: 'unknown_format' });
    const salt = 'c29tZXNhbHRzb21lc2FsdA';
    const digest = 'n2Ue4P9QjpXy0gBJYc6iWyH4xkqTVSuqYF8sUNLrtlE';
    expect(checkHash(`$argon2id$v=19$m=19456,t=2,p=1$${salt}$${digest}`)).toEqual({ ok: true, kind: 'argon2' });
    expect(checkHash(`$argon2i$v=19$m=65536,p=4,t=3$${salt}$${digest}`)).toEqual({ ok: true, kind: 'argon2' });
    expect(checkHash(`$argon2id$v=19$m=1024,t=1,p=1$${salt}$${digest}`)).toEqual({
      ok: false,
      reason: 'weak_parameters',
    });
    expect(checkHash(`$argon2id$v=19$m=19456,m=2,p=1$${salt}$${digest}`)).toEqual({
      ok: false,
      reason: 'weak_parameters',
    });
    expect(checkHash(`$argon2id$v=16$m=19456,t=2,p=1$${salt}$${digest}`)).toEqual({
      ok: false,
      reason: 'unknown_format',
    });
    for (const junk of ['', 'x', '$1$abc$def', 'sha256$abc', 'plaintext-password', '$argon2id$v=19$m=1,t=1,p=1$$']) {
      expect(checkHash(junk).ok).toBe(false);
    }
  });

  it('a bcrypt hash verifies only its own password, and asks to be upgraded', async () => {
    const hasher = createPasswordHasher({ memoryKiB: 8192, timeCost: 1, parallelism: 1, maxConcurrent: 2 }, () => true);
    const hash = bcrypt.hashSync('the password', 10);
    expect(await hasher.verify(hash, 'the password')).toBe(true);
    expect(await hasher.verify(hash.replace('$2b$', '$2y$'), 'the password')).toBe(true);
    expect(await hasher.verify(hash, 'the passworD')).toBe(false);
    expect(await hasher.verify('sha1$5f4dcc3b5aa765d61d8327deb882cf99', 'sha1$5f4dcc3b5aa765d61d8327deb882cf99')).toBe(
      false,
    );
    expect(await hasher.verify(null, 'the password')).toBe(false);
    expect(hasher.needsUpgrade(hash)).toBe(true);
    expect(hasher.needsUpgrade(await hasher.hash('the password'))).toBe(false);
  }, 30_000);
});
