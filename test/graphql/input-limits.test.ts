import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  codeOf,
  email,
  type GqlResponse,
  PASSWORD,
  REFRESH,
  type Session,
  SIGN_IN,
  SIGN_UP,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

/**
 * The input rules at their boundaries, each through real HTTP. Every refusal is checked twice:
 * the contract's code, and a fingerprint of every row of the auth and profile tables that must
 * not move. Every response of the file must be < 500 and free of INTERNAL_SERVER_ERROR.
 */

let t: TestGateway;
beforeAll(async () => {
  // Cheap hashing: the password policy is under test here, not argon2's cost.
  t = await startGateway({ ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' });
});
afterAll(async () => {
  await t?.close();
});

const PROFILE_FIELDS = 'id username fullName avatarUrl website isPublic';
const UPDATE_PROFILE = `mutation U($input: UpdateProfileInput!) { updateProfile(input: $input) { ${PROFILE_FIELDS} } }`;
const UPDATE_USER = 'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id email userMetadata } }';
const PROFILE_BY_NAME = `query P($username: String) { profile(username: $username) { ${PROFILE_FIELDS} } }`;
const PROFILES = 'query P($after: String) { profiles(first: 5, after: $after) { edges { cursor node { id } } } }';
const USERS =
  'query U($search: String, $after: String) { users(first: 5, search: $search, after: $after) { edges { cursor } } }';
const BAN =
  'mutation B($id: ID!, $until: DateTime) { adminUpdateUser(id: $id, input: { bannedUntil: $until }) { id } }';
const ME = 'query { me { id email userMetadata } }';

/** One SQL injection probe with every metacharacter of the brief. */
const META = `' " ; -- /* */ \\ %_ $1 ) OR 1=1`;
const META_VARIANTS = [
  META,
  "'; DROP TABLE auth.users; --",
  "\\'; select pg_sleep(5); --",
  '%',
  '_%_',
  '$1 $2 $$ $tag$',
  "E'\\x27' || chr(39)",
  '*/ OR 1=1 /*',
  '") OR ("1"="1',
];

const codesOf = (res: GqlResponse): unknown[] => (res.errors ?? []).map((e) => e.extensions?.code);

/** Every request of this file: never a 5xx, never a masked internal error. */
async function call(query: string, variables?: Record<string, unknown>, token?: string): Promise<GqlResponse> {
  const res = await t.gql(query, variables, token);
  expect(res.status).toBeLessThan(500);
  expect(codesOf(res)).not.toContain('INTERNAL_SERVER_ERROR');
  return res;
}

/** A body sent as given: some inputs (very deep JSON) are cheaper to write than to stringify. */
async function callRaw(body: string, token?: string): Promise<GqlResponse> {
  const res = await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  expect(res.status).toBeLessThan(500);
  const parsed = { ...((await res.json()) as GqlResponse), status: res.status };
  expect(codesOf(parsed)).not.toContain('INTERNAL_SERVER_ERROR');
  return parsed;
}

/** Every row of the tables a request could touch, as count + md5 per table. */
async function fingerprint(): Promise<Record<string, string>> {
  const rows = await t.admin.unsafe(
    ['auth.users', 'auth.identities', 'auth.sessions', 'auth.refresh_tokens', 'public.profiles']
      .map(
        (tbl) =>
          `select '${tbl}' as tbl, count(*)::int as n, coalesce(md5(string_agg(x::text, '|' order by x::text)), '') as h from ${tbl} x`,
      )
      .join(' union all '),
  );
  return Object.fromEntries(rows.map((r) => [r.tbl as string, `${r.n}:${r.h}`]));
}

/** The request fails with one of `codes` and no row of the database changes. */
async function expectRefused(
  codes: string | string[],
  query: string,
  variables?: Record<string, unknown>,
  token?: string,
): Promise<GqlResponse> {
  const before = await fingerprint();
  const res = await call(query, variables, token);
  expect(res.errors?.length ?? 0, JSON.stringify(res.data)).toBeGreaterThan(0);
  expect([codes].flat()).toContain(codeOf(res));
  expect(await fingerprint()).toEqual(before);
  return res;
}

const userCount = async (mail: string): Promise<number> =>
  Number((await t.admin`select count(*)::int as n from auth.users where email = ${mail.trim().toLowerCase()}`)[0]?.n);

/** A signUp that must succeed; checks the user has exactly one profile. */
async function signUpOk(input: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await call(SIGN_UP, { input });
  expect(res.errors).toBeUndefined();
  const p = res.data!.signUp;
  const [n] = await t.admin`select count(*)::int as n from public.profiles where id = ${p.user.id}`;
  expect(n?.n).toBe(1);
  return p;
}

const profileRow = async (id: string) =>
  (await t.admin`select username, full_name, avatar_url, website from public.profiles where id = ${id}`)[0]!;
const metadataRow = async (id: string) =>
  (await t.admin`select raw_user_meta_data as m from auth.users where id = ${id}`)[0]!.m as Record<string, unknown>;

let seq = 0;
const tag = (): string => `${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(2).toString('hex')}`;
const uname = (prefix = 'u'): string => `${prefix}_${randomBytes(5).toString('hex')}`;

/** `local@domain` of exactly `length` characters: a 64-character local part, labels of at most 63. */
function emailOfLength(length: number): string {
  const local = `l${tag()}`.padEnd(64, 'x');
  let rest = length - local.length - 1 - '.com'.length;
  const labels: string[] = [];
  while (rest > 0) {
    const size = rest <= 63 ? rest : Math.min(63, rest - 2);
    labels.push('d'.repeat(size));
    rest -= size + (rest > size ? 1 : 0);
  }
  const mail = `${local}@${labels.join('.')}.com`;
  expect(mail).toHaveLength(length);
  for (const label of mail.split('@')[1]!.split('.')) expect(label.length).toBeLessThanOrEqual(63);
  return mail;
}

/** `{"k":"…"}` of exactly `bytes` bytes of UTF-8 JSON, filled with `fill` (1 or 2 bytes per char) then 'x'. */
function metadataOfBytes(bytes: number, fill = 'x'): Record<string, string> {
  const width = Buffer.byteLength(fill);
  const room = bytes - '{"k":""}'.length;
  const value = fill.repeat(Math.floor(room / width)) + 'x'.repeat(room % width);
  const data = { k: value };
  expect(Buffer.byteLength(JSON.stringify(data))).toBe(bytes);
  return data;
}

const cursorOf = (createdAt: string, id = '00000000-0000-4000-8000-000000000000'): string =>
  Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');

describe('email length', () => {
  it('accepts an email of exactly 254 characters, stores it, and signs in with it', async () => {
    const mail = emailOfLength(254);
    const p = await signUpOk({ email: mail, password: PASSWORD });
    expect(p.user.email).toBe(mail);
    expect(await userCount(mail)).toBe(1);
    const again = await call(SIGN_IN, { input: { email: mail, password: PASSWORD } });
    expect(again.data?.signIn.user.id).toBe(p.user.id);
  });

  it('measures the length after trimming: 254 characters with surrounding spaces are accepted', async () => {
    const mail = emailOfLength(254);
    const p = await signUpOk({ email: `  ${mail}  `, password: PASSWORD });
    expect(p.user.email).toBe(mail);
  });

  it('refuses an email of 255 characters with BAD_USER_INPUT and stores nothing', async () => {
    const mail = emailOfLength(255);
    await expectRefused('BAD_USER_INPUT', SIGN_UP, { input: { email: mail, password: PASSWORD } });
    expect(await userCount(mail)).toBe(0);
  });

  it('applies the same bound to updateUser and to signIn', async () => {
    const s = await signUp(t);
    await expectRefused('BAD_USER_INPUT', UPDATE_USER, { input: { email: emailOfLength(255) } }, s.accessToken);
    await expectRefused(['BAD_USER_INPUT', 'INVALID_CREDENTIALS'], SIGN_IN, {
      input: { email: emailOfLength(255), password: PASSWORD },
    });
    // Accepted, and kept pending until the mailed links prove it.
    const mail = emailOfLength(254);
    const res = await call(UPDATE_USER, { input: { email: mail } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    const [row] = await t.admin`select pending_email from auth.users where id = ${s.userId}`;
    expect(row).toEqual({ pending_email: mail });
  });
});

describe('password length', () => {
  it.each([
    ['7 characters', 'p'.repeat(7)],
    ['1025 characters', 'p'.repeat(1025)],
    ['7 astral characters (14 UTF-16 units)', '😀'.repeat(7)],
    ['1025 astral characters', '😀'.repeat(1025)],
  ])('refuses a password of %s with WEAK_PASSWORD and stores nothing', async (_what, password) => {
    const mail = email('pw');
    await expectRefused('WEAK_PASSWORD', SIGN_UP, { input: { email: mail, password } });
    expect(await userCount(mail)).toBe(0);
  });

  it.each([
    ['8 characters', 'p'.repeat(8)],
    ['1024 characters', 'p'.repeat(1024)],
    ['8 astral characters', '😀'.repeat(8)],
    ['1024 astral characters (2048 UTF-16 units)', '😀'.repeat(1024)],
  ])('accepts a password of %s, and signIn with it works', async (_what, password) => {
    const mail = email('pw');
    const p = await signUpOk({ email: mail, password });
    const res = await call(SIGN_IN, { input: { email: mail, password } });
    expect(res.data?.signIn.user.id).toBe(p.user.id);
  });

  it('applies the policy to updateUser and leaves the hash alone when it refuses', async () => {
    const s = await signUp(t);
    for (const password of ['p'.repeat(7), 'p'.repeat(1025)]) {
      await expectRefused(
        'WEAK_PASSWORD',
        UPDATE_USER,
        { input: { password, currentPassword: PASSWORD } },
        s.accessToken,
      );
    }
  });

  it('answers a 1025-character password at signIn with INVALID_CREDENTIALS and starts no session', async () => {
    const s = await signUp(t);
    await expectRefused('INVALID_CREDENTIALS', SIGN_IN, { input: { email: s.email, password: 'p'.repeat(1025) } });
  });
});

describe('metadata size', () => {
  it('accepts exactly 16 KiB of JSON and stores it unchanged', async () => {
    const data = metadataOfBytes(16 * 1024);
    const p = await signUpOk({ email: email('meta'), password: PASSWORD, data });
    expect(p.user.userMetadata).toEqual(data);
    expect(await metadataRow(p.user.id)).toEqual(data);
  });

  it('refuses 16 KiB + 1 byte with BAD_USER_INPUT and stores nothing', async () => {
    const mail = email('meta');
    await expectRefused('BAD_USER_INPUT', SIGN_UP, {
      input: { email: mail, password: PASSWORD, data: metadataOfBytes(16 * 1024 + 1) },
    });
    expect(await userCount(mail)).toBe(0);
  });

  it('counts UTF-8 bytes, not characters', async () => {
    const data = metadataOfBytes(16 * 1024 + 1, 'é');
    expect(JSON.stringify(data).length).toBeLessThan(16 * 1024);
    const mail = email('meta');
    await expectRefused('BAD_USER_INPUT', SIGN_UP, { input: { email: mail, password: PASSWORD, data } });
    const exact = metadataOfBytes(16 * 1024, 'é');
    const p = await signUpOk({ email: email('meta'), password: PASSWORD, data: exact });
    expect(await metadataRow(p.user.id)).toEqual(exact);
  });

  it('bounds the merged metadata of updateUser and keeps the old metadata when it refuses', async () => {
    const s = await signUp(t, { a: 'x' });
    // Alone the new keys fit; merged with {"a":"x"} they are one byte over 16 KiB.
    const b = 'y'.repeat(16 * 1024 + 1 - '{"a":"x","b":""}'.length);
    expect(Buffer.byteLength(JSON.stringify({ b }))).toBeLessThanOrEqual(16 * 1024);
    expect(Buffer.byteLength(JSON.stringify({ a: 'x', b }))).toBe(16 * 1024 + 1);
    await expectRefused('BAD_USER_INPUT', UPDATE_USER, { input: { data: { b } } }, s.accessToken);
    expect(await metadataRow(s.userId)).toEqual({ a: 'x' });
    const res = await call(UPDATE_USER, { input: { data: { b: b.slice(1) } } }, s.accessToken);
    expect(res.data?.updateUser.userMetadata).toEqual({ a: 'x', b: b.slice(1) });
  });

  it('gives a user with 16 KiB of metadata an access token the gateway itself accepts', async () => {
    // Accepted metadata travels in the user_metadata claim: the token it yields must pass the
    // gateway's own token-length bound, or the account is unusable from its first request.
    const p = await signUpOk({ email: email('meta'), password: PASSWORD, data: metadataOfBytes(16 * 1024) });
    const me = await call(ME, {}, p.accessToken);
    expect(me.errors).toBeUndefined();
    expect(me.data?.me?.id).toBe(p.user.id);
  });

  it('refuses or stores metadata nested thousands of levels deep within 16 KiB, never an internal error', async () => {
    const depth = 4000;
    const mail = email('deep');
    const nested = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    const body = JSON.stringify({ query: SIGN_UP, variables: { input: { email: mail, password: PASSWORD } } }).replace(
      '"password"',
      `"data":{"d":${nested}},"password"`,
    );
    expect(Buffer.byteLength(body)).toBeLessThan(16 * 1024);
    const before = await fingerprint();
    const res = await callRaw(body);
    if (res.errors) {
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(await fingerprint()).toEqual(before);
    } else {
      expect(await userCount(mail)).toBe(1);
    }
  });
  it.each([3000, 8000])(
    'never lets updateUser store metadata nested %i deep that then breaks signIn and refresh',
    async (depth) => {
      const s = await signUp(t);
      const body = JSON.stringify({
        query: 'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id } }',
        variables: { input: { data: { d: '@@' } } },
      }).replace('"@@"', `${'['.repeat(depth)}1${']'.repeat(depth)}`);
      expect(Buffer.byteLength(body)).toBeLessThan(16 * 1024 + 200);
      const before = await fingerprint();
      const res = await callRaw(body, s.accessToken);
      if (res.errors) {
        expect(codeOf(res)).toBe('BAD_USER_INPUT');
        expect(await fingerprint()).toEqual(before);
      }
      // Whatever was stored, the account must keep working.
      const again = await call(SIGN_IN, { input: { email: s.email, password: PASSWORD } });
      expect(again.data?.signIn.user.id).toBe(s.userId);
      const refreshed = await call(REFRESH, { token: s.refreshToken });
      expect(refreshed.data?.refresh.user.id).toBe(s.userId);
    },
  );
});

describe('unicode', () => {
  const SAMPLES: Array<[string, string]> = [
    ['emoji (ZWJ sequences, flags, skin tones)', '👩‍👩‍👧‍👦 🇩🇪 🏳️‍🌈 👍🏽 😀'],
    ['right-to-left text with bidi controls', 'مرحبا بالعالم שלום \u202Eevil\u202C \u200Fend'],
    ['combining marks, NFD next to NFC', 'Z\u0351\u0308\u0334a\u0301\u0327lgo e\u0301 \u00e9 \u1E9B\u0323'],
    ['CJK, zero-width and non-characters', '日本語 한국어\u200B\u200D\uFEFF \uFFFE \u{10FFFF}'],
  ];

  it.each(SAMPLES)('stores %s exactly in fullName via updateProfile', async (_what, text) => {
    const s = await signUp(t);
    const res = await call(UPDATE_PROFILE, { input: { fullName: text } }, s.accessToken);
    expect(res.data?.updateProfile.fullName).toBe(text);
    expect((await profileRow(s.userId)).full_name).toBe(text);
    const [bytes] = await t.admin`select octet_length(full_name) as o, length(full_name) as l
      from public.profiles where id = ${s.userId}`;
    // No normalisation, no replacement: same bytes, same code points.
    expect(bytes).toEqual({ o: Buffer.byteLength(text), l: [...text].length });
  });

  it('stores unicode exactly in the signUp full_name seed and in metadata keys and values', async () => {
    const data = Object.fromEntries(SAMPLES.map(([, text], i) => [`${text}#${i}`, text]));
    const p = await signUpOk({ email: email('uni'), password: PASSWORD, data: { ...data, full_name: SAMPLES[0]![1] } });
    expect(p.user.profile.fullName).toBe(SAMPLES[0]![1]);
    expect((await profileRow(p.user.id)).full_name).toBe(SAMPLES[0]![1]);
    expect(await metadataRow(p.user.id)).toEqual({ ...data, full_name: SAMPLES[0]![1] });
  });

  const NON_ASCII_USERNAMES = [
    'jösé_user',
    'ａｄｍｉｎ', // fullwidth
    'аdmin', // Cyrillic а
    'admin\u0301',
    'user_١٢٣', // Arabic-Indic digits
    '😀😀😀',
    'ab\u200Bcd', // zero-width space
    'ǅungla', // titlecase digraph
  ];

  it.each(NON_ASCII_USERNAMES)('refuses the non-ASCII username %j with BAD_USER_INPUT', async (username) => {
    const mail = email('uname');
    await expectRefused('BAD_USER_INPUT', SIGN_UP, { input: { email: mail, password: PASSWORD, data: { username } } });
    expect(await userCount(mail)).toBe(0);
    const s = await signUp(t, { username: uname() });
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { username } }, s.accessToken);
  });

  it('holds the username and text bounds: 3..32 characters, fullName 1024, URLs 2048', async () => {
    const s = await signUp(t);
    const ok = async (input: Record<string, unknown>) => {
      const res = await call(UPDATE_PROFILE, { input }, s.accessToken);
      expect(res.errors).toBeUndefined();
      return res.data!.updateProfile;
    };
    const base = randomBytes(16).toString('hex');
    expect((await ok({ username: `u${base.slice(0, 2)}` })).username).toHaveLength(3);
    expect((await ok({ username: `u${base}${base}`.slice(0, 32) })).username).toHaveLength(32);
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { username: 'ab' } }, s.accessToken);
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { username: `u${base}${base}` } }, s.accessToken);
    expect((await ok({ fullName: 'f'.repeat(1024) })).fullName).toHaveLength(1024);
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { fullName: 'f'.repeat(1025) } }, s.accessToken);
    const url = (n: number) => `https://example.com/${'p'.repeat(n - 'https://example.com/'.length)}`;
    expect((await ok({ website: url(2048), avatarUrl: url(2048) })).website).toHaveLength(2048);
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { website: url(2049) } }, s.accessToken);
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { avatarUrl: url(2049) } }, s.accessToken);
  });

  describe('lone UTF-16 surrogates (not valid Unicode, not storable as UTF-8)', () => {
    const LONE = ['a\uD800b', 'tail\uDFFF'];

    it.each(LONE)(
      'refuses %j in signUp email, metadata values, metadata keys and full_name with BAD_USER_INPUT',
      async (s) => {
        const mail = `lone${tag()}${s.replace(/[^\uD800-\uDFFF]/g, '')}@example.com`;
        await expectRefused('BAD_USER_INPUT', SIGN_UP, { input: { email: mail, password: PASSWORD } });
        await expectRefused('BAD_USER_INPUT', SIGN_UP, {
          input: { email: email(), password: PASSWORD, data: { v: s } },
        });
        await expectRefused('BAD_USER_INPUT', SIGN_UP, {
          input: { email: email(), password: PASSWORD, data: { [s]: 1 } },
        });
        await expectRefused('BAD_USER_INPUT', SIGN_UP, {
          input: { email: email(), password: PASSWORD, data: { full_name: s } },
        });
      },
    );

    it.each(LONE)('refuses %j in updateProfile fullName instead of storing a replacement character', async (s) => {
      const user = await signUp(t);
      await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { fullName: s } }, user.accessToken);
      expect((await profileRow(user.userId)).full_name).toBeNull();
    });

    it.each(LONE)('refuses %j in updateUser email and data with BAD_USER_INPUT', async (s) => {
      const user = await signUp(t);
      await expectRefused(
        'BAD_USER_INPUT',
        UPDATE_USER,
        { input: { email: `x${s}${tag()}@example.com` } },
        user.accessToken,
      );
      await expectRefused('BAD_USER_INPUT', UPDATE_USER, { input: { data: { v: s } } }, user.accessToken);
      await expectRefused('BAD_USER_INPUT', UPDATE_USER, { input: { data: { [s]: 'v' } } }, user.accessToken);
    });

    it.each(LONE)('answers %j at signIn and profile(username) with a coded error or null', async (s) => {
      await expectRefused(['BAD_USER_INPUT', 'INVALID_CREDENTIALS'], SIGN_IN, {
        input: { email: `a${s}@example.com`, password: PASSWORD },
      });
      const res = await call(PROFILE_BY_NAME, { username: `abc${s}` });
      if (res.errors) expect(codeOf(res)).toBe('BAD_USER_INPUT');
      else expect(res.data?.profile).toBeNull();
    });
  });
});

describe('NUL bytes', () => {
  let user: Session;
  let name: string;
  beforeAll(async () => {
    name = uname('nul');
    user = await signUp(t, { username: name, full_name: 'Nul Tester' });
  });

  it.each([
    ['email (inside)', () => ({ email: `a\u0000${tag()}@example.com`, password: PASSWORD })],
    ['email (trailing, survives trim)', () => ({ email: `${email('nul')}\u0000`, password: PASSWORD })],
    ['password', () => ({ email: email('nul'), password: `${PASSWORD}\u0000x` })],
    ['data value', () => ({ email: email('nul'), password: PASSWORD, data: { v: 'a\u0000b' } })],
    ['data key', () => ({ email: email('nul'), password: PASSWORD, data: { 'k\u0000': 'v' } })],
    ['nested data value', () => ({ email: email('nul'), password: PASSWORD, data: { v: [{ w: ['\u0000'] }] } })],
    ['data.full_name', () => ({ email: email('nul'), password: PASSWORD, data: { full_name: 'Ada\u0000' } })],
    ['data.username', () => ({ email: email('nul'), password: PASSWORD, data: { username: 'ada\u0000x' } })],
    [
      'data.website',
      () => ({ email: email('nul'), password: PASSWORD, data: { website: 'https://a.example/\u0000' } }),
    ],
  ])('signUp refuses NUL in %s with BAD_USER_INPUT', async (_what, input) => {
    const i = input();
    await expectRefused('BAD_USER_INPUT', SIGN_UP, { input: i });
    expect(await userCount(i.email.replaceAll('\u0000', ''))).toBe(0);
  });

  it('signIn refuses NUL in the email with BAD_USER_INPUT', async () => {
    await expectRefused('BAD_USER_INPUT', SIGN_IN, { input: { email: `${user.email}\u0000`, password: PASSWORD } });
  });

  it.each([
    ['a NUL-only password', '\u0000'],
    ['the right password followed by NUL and more', `${PASSWORD}\u0000anything`],
    ['the right password truncated at an inner NUL', `${PASSWORD.slice(0, 8)}\u0000${PASSWORD.slice(8)}`],
  ])('signIn answers %s with a coded refusal and starts no session', async (_what, password) => {
    await expectRefused(['INVALID_CREDENTIALS', 'BAD_USER_INPUT'], SIGN_IN, { input: { email: user.email, password } });
  });

  it.each([
    ['username', { username: 'nul\u0000name' }],
    ['fullName', { fullName: 'Ada\u0000Lovelace' }],
    ['avatarUrl', { avatarUrl: 'https://example.com/a\u0000.png' }],
    ['website', { website: 'https://example.com/\u0000' }],
  ])('updateProfile refuses NUL in %s with BAD_USER_INPUT and leaves the profile as it was', async (_what, input) => {
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input }, user.accessToken);
    expect(await profileRow(user.userId)).toEqual({
      username: name,
      full_name: 'Nul Tester',
      avatar_url: null,
      website: null,
    });
  });

  it.each([
    ['email', { email: `x\u0000${tag()}@example.com` }],
    ['data value', { data: { v: '\u0000' } }],
    ['data key', { data: { '\u0000': 'v' } }],
    ['new password', { password: `new password\u0000x`, currentPassword: PASSWORD }],
  ])('updateUser refuses NUL in %s with BAD_USER_INPUT and leaves the user as it was', async (_what, input) => {
    await expectRefused('BAD_USER_INPUT', UPDATE_USER, { input }, user.accessToken);
  });

  it('refresh refuses a token with NUL, even a real token with NUL around it, and spends nothing', async () => {
    const s = await signUp(t);
    for (const token of [
      'abc\u0000',
      `${s.refreshToken}\u0000`,
      `\u0000${s.refreshToken}`,
      `${s.refreshToken.slice(0, 20)}\u0000${s.refreshToken.slice(21)}`,
    ]) {
      await expectRefused(['INVALID_REFRESH_TOKEN', 'BAD_USER_INPUT'], REFRESH, { token });
    }
    // The real token is still unspent and its session alive.
    const ok = await call(REFRESH, { token: s.refreshToken });
    expect(ok.data?.refresh.user.id).toBe(s.userId);
  });

  it('profile(username) with NUL finds nothing, not even the profile the prefix names', async () => {
    for (const username of [`${name}\u0000`, `${name}\u0000x`, '\u0000']) {
      const res = await call(PROFILE_BY_NAME, { username });
      if (res.errors) expect(codeOf(res)).toBe('BAD_USER_INPUT');
      else expect(res.data?.profile).toBeNull();
    }
    expect((await call(PROFILE_BY_NAME, { username: name })).data?.profile.username).toBe(name);
  });

  it('profiles(after) refuses a cursor with NUL with BAD_USER_INPUT', async () => {
    for (const after of ['\u0000', cursorOf('2024-01-01T00:00:00Z\u0000'), cursorOf('2024-01-01\u0000 00:00')]) {
      await expectRefused('BAD_USER_INPUT', PROFILES, { after });
    }
  });

  it('users(search) refuses NUL with BAD_USER_INPUT', async () => {
    const service = await t.gateway.tokens.signServiceRole(600);
    await expectRefused('BAD_USER_INPUT', USERS, { search: 'a\u0000b' }, service);
  });
});

describe('SQL metacharacters', () => {
  it.each(META_VARIANTS)('stores %j verbatim as fullName', async (text) => {
    const s = await signUp(t);
    const res = await call(UPDATE_PROFILE, { input: { fullName: text } }, s.accessToken);
    expect(res.data?.updateProfile.fullName).toBe(text);
    expect((await profileRow(s.userId)).full_name).toBe(text);
  });

  it('stores them verbatim as metadata keys and values, at signUp and through updateUser', async () => {
    const data = Object.fromEntries(META_VARIANTS.map((m) => [m, m]));
    const p = await signUpOk({ email: email('meta'), password: PASSWORD, data: { ...data, full_name: META } });
    expect((await profileRow(p.user.id)).full_name).toBe(META);
    expect(await metadataRow(p.user.id)).toEqual({ ...data, full_name: META });
    const more = { [`${META}!`]: [META, { [META]: META }] };
    const res = await call(UPDATE_USER, { input: { data: more } }, p.accessToken);
    expect(res.data?.updateUser.userMetadata).toEqual({ ...data, full_name: META, ...more });
    expect(await metadataRow(p.user.id)).toEqual({ ...data, full_name: META, ...more });
  });

  it('stores a backslash sequence that merely looks like a NUL escape verbatim in metadata', async () => {
    // The six characters \ u 0 0 0 0 are legal text; only the NUL character itself is not.
    const data = { path: 'C:\\u0000\\temp', 'key\\u0000': 'v' };
    const p = await signUpOk({ email: email('bs'), password: PASSWORD, data });
    expect(await metadataRow(p.user.id)).toEqual(data);
  });

  it('refuses them in emails with BAD_USER_INPUT at signUp, signIn and updateUser', async () => {
    const s = await signUp(t);
    for (const m of META_VARIANTS.filter((v) => /[\s"(),;:\\]/.test(v))) {
      await expectRefused('BAD_USER_INPUT', SIGN_UP, { input: { email: `${m}@example.com`, password: PASSWORD } });
      await expectRefused(['BAD_USER_INPUT', 'INVALID_CREDENTIALS'], SIGN_IN, {
        input: { email: `${m}@example.com`, password: PASSWORD },
      });
      await expectRefused('BAD_USER_INPUT', UPDATE_USER, { input: { email: `${m}@example.com` } }, s.accessToken);
    }
  });

  it("stores an email with the legal metacharacters ' % _ $ * / verbatim and never treats them as wildcards", async () => {
    const id = tag();
    const mail = `o'b%_$1*/${id}@example.com`;
    const p = await signUpOk({ email: mail, password: PASSWORD });
    expect(p.user.email).toBe(mail);
    expect(await userCount(mail)).toBe(1);
    // A LIKE or a concatenated query would match these; equality must not.
    const lookalike = `o'bXY$1*/${id}@example.com`;
    await expectRefused('INVALID_CREDENTIALS', SIGN_IN, { input: { email: lookalike, password: PASSWORD } });
    const other = await signUpOk({ email: lookalike, password: PASSWORD });
    expect(other.user.id).not.toBe(p.user.id);
    expect((await call(SIGN_IN, { input: { email: mail, password: PASSWORD } })).data?.signIn.user.id).toBe(p.user.id);
  });

  it('accepts them in passwords (hashed, never in SQL) and tells them apart exactly', async () => {
    const mail = email('sqlpw');
    await signUpOk({ email: mail, password: META });
    expect((await call(SIGN_IN, { input: { email: mail, password: META } })).errors).toBeUndefined();
    for (const wrong of META_VARIANTS.slice(1)) {
      await expectRefused('INVALID_CREDENTIALS', SIGN_IN, { input: { email: mail, password: wrong } });
    }
  });

  it.each(META_VARIANTS)('refuses %j as a username with BAD_USER_INPUT', async (m) => {
    const mail = email('sqlu');
    await expectRefused('BAD_USER_INPUT', SIGN_UP, {
      input: { email: mail, password: PASSWORD, data: { username: m } },
    });
    const s = await signUp(t);
    await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { username: m } }, s.accessToken);
  });

  it('takes them in URLs only as a verbatim http(s) URL, refusing anything else with BAD_USER_INPUT', async () => {
    const s = await signUp(t);
    for (const m of META_VARIANTS) {
      await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { website: m } }, s.accessToken);
      await expectRefused('BAD_USER_INPUT', UPDATE_PROFILE, { input: { avatarUrl: m } }, s.accessToken);
      const url = `https://example.com/p?q=${m}`;
      const before = await fingerprint();
      const res = await call(UPDATE_PROFILE, { input: { website: url, avatarUrl: url } }, s.accessToken);
      if (res.errors) {
        expect(codeOf(res)).toBe('BAD_USER_INPUT');
        expect(await fingerprint()).toEqual(before);
      } else {
        expect(await profileRow(s.userId)).toMatchObject({ website: url, avatar_url: url });
      }
    }
  });

  it('refuses them as a refresh token with INVALID_REFRESH_TOKEN and ends no session', async () => {
    await signUp(t);
    for (const token of META_VARIANTS) {
      await expectRefused(['INVALID_REFRESH_TOKEN', 'BAD_USER_INPUT'], REFRESH, { token });
    }
  });

  it('profile(username) finds nothing for an injection or a LIKE pattern', async () => {
    const name = uname('sq');
    await signUp(t, { username: name });
    const inline = await call(`query { profile(username: "' OR 1=1 --") { id username } }`);
    expect(inline.errors).toBeUndefined();
    expect(inline.data?.profile).toBeNull();
    // '_' is a legal username character and LIKE's any-character wildcard.
    for (const username of [...META_VARIANTS, '_'.repeat(name.length), `${name.slice(0, -1)}_`, `${name}%`]) {
      const res = await call(PROFILE_BY_NAME, { username });
      if (res.errors) expect(codeOf(res)).toBe('BAD_USER_INPUT');
      else expect(res.data?.profile).toBeNull();
    }
    expect((await call(PROFILE_BY_NAME, { username: name.toUpperCase() })).data?.profile.username).toBe(name);
  });

  it('refuses them as a profiles cursor with BAD_USER_INPUT', async () => {
    for (const m of META_VARIANTS) {
      await expectRefused('BAD_USER_INPUT', PROFILES, { after: m });
      await expectRefused('BAD_USER_INPUT', PROFILES, { after: cursorOf(m) });
    }
  });

  it('leaves the tables standing', async () => {
    const [row] = await t.admin`select to_regclass('auth.users') is not null as users,
      to_regclass('public.profiles') is not null as profiles,
      (select count(*) from auth.users) = (select count(*) from public.profiles) as paired`;
    expect(row).toEqual({ users: true, profiles: true, paired: true });
  });
});

describe('values JavaScript accepts and Postgres does not', () => {
  it.each([
    ['a bare number', '1'],
    ['a weekday and a number', 'Tue 1'],
    ['a year past Postgres timestamptz', '+275760-09-13T00:00:00.000Z'],
    ['a negative year', '-000001-01-01T00:00:00.000Z'],
  ])('refuses a profiles cursor whose time is %s with BAD_USER_INPUT', async (_what, createdAt) => {
    expect(Number.isNaN(new Date(createdAt).getTime())).toBe(false);
    await expectRefused('BAD_USER_INPUT', PROFILES, { after: cursorOf(createdAt) });
    const service = await t.gateway.tokens.signServiceRole(600);
    await expectRefused('BAD_USER_INPUT', USERS, { after: cursorOf(createdAt) }, service);
  });

  it.each([
    ['the earliest JavaScript date', '-271821-04-20T00:00:00Z'],
    ['year 0', '0000-01-01T00:00:00Z'],
    ['the latest JavaScript date', '+275760-09-13T00:00:00Z'],
  ])('refuses bannedUntil at %s with BAD_USER_INPUT', async (_what, until) => {
    const s = await signUp(t);
    const service = await t.gateway.tokens.signServiceRole(600);
    await expectRefused('BAD_USER_INPUT', BAN, { id: s.userId, until }, service);
  });
});
