import { randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { codeOf, type GqlResponse, PASSWORD, signUp, startGateway, type TestGateway } from '../helpers.js';
import { NO_LIMITS } from './support.js';

/**
 * The passkey fields' guards without a browser (test/auth/passkeys-browser.test.ts makes real
 * passkeys): ownership, the aal2 a passkey demands once it exists, the admin fields, the
 * challenges' single use and time box, the sign-in rate limit, the relying party's config.
 * Passkeys here are rows stored as registerPasskey stores them: the guards never read the key.
 */

let t: TestGateway;
let service: string;

beforeAll(async () => {
  t = await startGateway(NO_LIMITS);
  service = await t.gateway.tokens.signServiceRole(600);
});
afterAll(async () => {
  await t?.close();
});

const PASSKEYS = 'query { passkeys { id name } }';
const RENAME = 'mutation R($id: ID!, $name: String!) { renamePasskey(id: $id, name: $name) { id name } }';
const DELETE = 'mutation D($id: ID!) { deletePasskey(id: $id) }';
const ADMIN_LIST = 'query L($u: ID!) { adminPasskeys(userId: $u) { id name } }';
const ADMIN_DELETE = 'mutation D($u: ID!, $id: ID!) { adminDeletePasskey(userId: $u, id: $id) }';
const SIGN_IN = 'mutation S($input: SignInInput!) { signIn(input: $input) { accessToken aal mfaRequired } }';
const SIGNIN_OPTIONS = 'mutation { passkeySignInOptions { flowId options } }';
const SIGNIN = 'mutation S($f: ID!, $r: JSON!) { signInWithPasskey(flowId: $f, response: $r) { accessToken } }';
const REGISTER = 'mutation R($r: JSON!) { registerPasskey(response: $r) { passkey { id } } }';
const REG_OPTIONS = 'mutation { passkeyRegistrationOptions }';
const VERIFY_OPTIONS = 'mutation { passkeyVerifyOptions }';
const ENROLL = 'mutation { mfaEnroll { factorId secret } }';
const ACTIVATE =
  'mutation A($id: ID!, $code: String!) { mfaActivate(factorId: $id, code: $code) { session { accessToken } } }';
const UPDATE = 'mutation U($d: JSON) { updateUser(input: { data: $d }) { id } }';

const reason = (res: GqlResponse): unknown => res.errors?.[0]?.extensions?.reason;

/** Stores a passkey for `userId` as registerPasskey would; returns its id. */
async function plant(userId: string, name = 'Laptop'): Promise<string> {
  const [row] = await t.admin`
    insert into auth.passkeys (user_id, credential_id, public_key, name, device_type)
    values (${userId}, ${randomBytes(16).toString('base64url')}, 'AQID', ${name}, 'multiDevice') returning id`;
  return row!.id as string;
}

/** A signed-up user with an active TOTP factor, and the aal2 token mfaActivate gave. */
async function withTotp(): Promise<{ userId: string; email: string; aal2: string }> {
  const u = await signUp(t);
  const enrolled = await t.gql(ENROLL, {}, u.accessToken);
  const { factorId, secret } = enrolled.data!.mfaEnroll;
  const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
  const activated = await t.gql(ACTIVATE, { id: factorId, code }, u.accessToken);
  expect(activated.errors).toBeUndefined();
  return { userId: u.userId, email: u.email, aal2: activated.data!.mfaActivate.session.accessToken };
}

/** A credential-shaped answer that names `id` and can never verify. */
const fakeAssertion = (id: string) => ({
  id,
  rawId: id,
  type: 'public-key',
  response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA', userHandle: 'AA' },
  clientExtensionResults: {},
});

describe('a passkey of one user', () => {
  it('is invisible to another: not listed, not renamed, not deleted, unchanged', async () => {
    const owner = await signUp(t);
    const other = await signUp(t);
    const id = await plant(owner.userId);
    expect((await t.gql(PASSKEYS, {}, owner.accessToken)).data?.passkeys).toEqual([{ id, name: 'Laptop' }]);
    expect((await t.gql(PASSKEYS, {}, other.accessToken)).data?.passkeys).toEqual([]);
    const renamed = await t.gql(RENAME, { id, name: 'Mine now' }, other.accessToken);
    expect([codeOf(renamed), reason(renamed)]).toEqual(['BAD_USER_INPUT', 'PASSKEY_NOT_FOUND']);
    const deleted = await t.gql(DELETE, { id }, other.accessToken);
    expect([codeOf(deleted), reason(deleted)]).toEqual(['BAD_USER_INPUT', 'PASSKEY_NOT_FOUND']);
    const [row] = await t.admin`select name from auth.passkeys where id = ${id}`;
    expect(row?.name).toBe('Laptop');
  });

  it('is renamed by its owner at aal1, with a checked name', async () => {
    const owner = await signUp(t);
    const id = await plant(owner.userId);
    const res = await t.gql(RENAME, { id, name: '  Work phone ' }, owner.accessToken);
    expect(res.data?.renamePasskey).toEqual({ id, name: 'Work phone' });
    const bad = await t.gql(RENAME, { id, name: 'x'.repeat(65) }, owner.accessToken);
    expect(codeOf(bad)).toBe('BAD_USER_INPUT');
    expect(
      (await t.gql(RENAME, { id: 'not-a-uuid', name: 'y' }, owner.accessToken)).errors?.[0]?.extensions?.reason,
    ).toBe('PASSKEY_NOT_FOUND');
  });

  it('turns MFA on: a password session is aal1 with mfaRequired, and account changes need aal2', async () => {
    const owner = await signUp(t);
    await plant(owner.userId);
    const signedIn = await t.gql(SIGN_IN, { input: { email: owner.email, password: PASSWORD } });
    expect(signedIn.data?.signIn).toMatchObject({ aal: 'aal1', mfaRequired: true });
    const aal1 = signedIn.data!.signIn.accessToken as string;
    const change = await t.gql(UPDATE, { d: { nickname: 'thief' } }, aal1);
    expect([codeOf(change), reason(change)]).toEqual(['FORBIDDEN', 'AAL2_REQUIRED']);
    // Nor can that session plant a passkey of its own, or remove the owner's.
    expect(reason(await t.gql(REG_OPTIONS, {}, aal1))).toBe('AAL2_REQUIRED');
    const [{ id }] = (await t.gql(PASSKEYS, {}, aal1)).data!.passkeys;
    expect(reason(await t.gql(DELETE, { id }, aal1))).toBe('AAL2_REQUIRED');
    // It may ask for the passkey as its second factor.
    const options = await t.gql(VERIFY_OPTIONS, {}, aal1);
    expect(options.errors).toBeUndefined();
    expect(options.data?.passkeyVerifyOptions.allowCredentials).toHaveLength(1);
    expect(options.data?.passkeyVerifyOptions.userVerification).toBe('required');
  });

  it('is deleted by its owner only at aal2; the last factor, TOTP or passkey, takes the recovery codes along', async () => {
    const owner = await withTotp();
    const first = await plant(owner.userId);
    const second = await plant(owner.userId);
    const codes = async () =>
      Number((await t.admin`select count(*) n from auth.mfa_recovery_codes where user_id = ${owner.userId}`)[0]?.n);
    const aal1 = (await t.gql(SIGN_IN, { input: { email: owner.email, password: PASSWORD } })).data!.signIn
      .accessToken as string;
    expect(reason(await t.gql(DELETE, { id: first }, aal1))).toBe('AAL2_REQUIRED');
    expect((await t.gql(DELETE, { id: first }, owner.aal2)).data?.deletePasskey).toBe(true);
    expect((await t.gql(PASSKEYS, {}, owner.aal2)).data?.passkeys).toEqual([{ id: second, name: 'Laptop' }]);
    expect(await codes()).toBe(10);
    // The TOTP factor goes; the passkey is still a factor, so the codes stay.
    const [factor] = await t.admin`select id from auth.mfa_factors where user_id = ${owner.userId}`;
    const unenrolled = await t.gql(
      'mutation U($id: ID!) { mfaUnenroll(factorId: $id) }',
      { id: factor!.id },
      owner.aal2,
    );
    expect(unenrolled.data?.mfaUnenroll).toBe(true);
    expect(await codes()).toBe(10);
    // The last passkey was the last factor.
    expect((await t.gql(DELETE, { id: second }, owner.aal2)).data?.deletePasskey).toBe(true);
    expect(await codes()).toBe(0);
    const removed = await t.admin`
      select detail->>'factorId' as id from auth.audit_log where user_id = ${owner.userId} and event = 'passkey.removed'
      order by created_at`;
    expect(removed.map((r) => r.id)).toEqual([first, second]);
    const after = await t.gql(SIGN_IN, { input: { email: owner.email, password: PASSWORD } });
    expect(after.data?.signIn.mfaRequired).toBe(false);
  });
});

describe('registering a passkey', () => {
  it('needs a sign-in within REAUTH_WINDOW_S: a stolen access token alone plants no way in', async () => {
    const u = await signUp(t);
    const [row] = await t.admin`select id from auth.sessions where user_id = ${u.userId}`;
    const sessionId = row!.id as string;
    await t.admin`update auth.sessions set amr = jsonb_build_array(jsonb_build_object('method', 'password',
                  'timestamp', extract(epoch from now())::bigint - 3600)) where id = ${sessionId}`;
    const stale = await t.gql(REG_OPTIONS, {}, u.accessToken);
    expect([codeOf(stale), reason(stale)]).toEqual(['FORBIDDEN', 'REAUTHENTICATION_REQUIRED']);
    const [n] = await t.admin`select count(*)::int n from auth.passkey_challenges where session_id = ${sessionId}`;
    expect(n?.n).toBe(0);
    const fresh = (await t.gql(SIGN_IN, { input: { email: u.email, password: PASSWORD } })).data!.signIn
      .accessToken as string;
    const options = await t.gql(REG_OPTIONS, {}, fresh);
    expect(options.errors).toBeUndefined();
    expect(options.data?.passkeyRegistrationOptions.authenticatorSelection).toMatchObject({
      residentKey: 'required',
      userVerification: 'required',
    });
  });
});

describe('the admin passkey fields', () => {
  it('list and remove a user’s passkeys for the service role only', async () => {
    const owner = await signUp(t);
    const id = await plant(owner.userId, 'Lost phone');
    for (const token of [undefined, owner.accessToken]) {
      expect(codeOf(await t.gql(ADMIN_LIST, { u: owner.userId }, token))).toBe('FORBIDDEN');
      expect(codeOf(await t.gql(ADMIN_DELETE, { u: owner.userId, id }, token))).toBe('FORBIDDEN');
    }
    expect((await t.gql(ADMIN_LIST, { u: owner.userId }, service)).data?.adminPasskeys).toEqual([
      { id, name: 'Lost phone' },
    ]);
    const other = await signUp(t);
    // Another user's id with this passkey: nothing removed.
    expect((await t.gql(ADMIN_DELETE, { u: other.userId, id }, service)).data?.adminDeletePasskey).toBe(false);
    expect((await t.gql(ADMIN_DELETE, { u: owner.userId, id }, service)).data?.adminDeletePasskey).toBe(true);
    expect((await t.gql(ADMIN_LIST, { u: owner.userId }, service)).data?.adminPasskeys).toEqual([]);
    const [audit] = await t.admin`
      select actor_kind from auth.audit_log where user_id = ${owner.userId} and event = 'passkey.removed'`;
    expect(audit?.actor_kind).toBe('service_role');
    expect(codeOf(await t.gql(ADMIN_LIST, { u: 'nope' }, service))).toBe('BAD_USER_INPUT');
  });
});

describe('passkey challenges', () => {
  it('are answered once: a sign-in flow id works for one answer, right or wrong', async () => {
    const owner = await signUp(t);
    await plant(owner.userId);
    const { flowId, options } = (await t.gql(SIGNIN_OPTIONS)).data!.passkeySignInOptions;
    expect(options.userVerification).toBe('required');
    expect(options.allowCredentials ?? []).toEqual([]);
    // Only a hash of the challenge is kept.
    const [row] = await t.admin`select challenge_hash from auth.passkey_challenges where id = ${flowId}`;
    expect(row?.challenge_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.challenge_hash).not.toBe(options.challenge);
    const first = await t.gql(SIGNIN, { f: flowId, r: fakeAssertion('abc') });
    expect([codeOf(first), reason(first)]).toEqual(['INVALID_CREDENTIALS', 'PASSKEY_INVALID']);
    const second = await t.gql(SIGNIN, { f: flowId, r: fakeAssertion('abc') });
    expect([codeOf(second), reason(second)]).toEqual(['BAD_USER_INPUT', 'CHALLENGE_EXPIRED']);
  });

  it('expire after their time, and the periodic clean-up drops them', async () => {
    const { flowId } = (await t.gql(SIGNIN_OPTIONS)).data!.passkeySignInOptions;
    const live = (await t.gql(SIGNIN_OPTIONS)).data!.passkeySignInOptions.flowId as string;
    await t.admin`update auth.passkey_challenges set expires_at = now() - interval '1 second' where id = ${flowId}`;
    await t.gateway.maintenance.run();
    const left = await t.admin`select id from auth.passkey_challenges where id in (${flowId}, ${live})`;
    expect(left.map((r) => r.id)).toEqual([live]);
    expect(reason(await t.gql(SIGNIN, { f: flowId, r: fakeAssertion('abc') }))).toBe('CHALLENGE_EXPIRED');
    // Expired but not yet cleaned up reads the same.
    await t.admin`update auth.passkey_challenges set expires_at = now() - interval '1 second' where id = ${live}`;
    expect(reason(await t.gql(SIGNIN, { f: live, r: fakeAssertion('abc') }))).toBe('CHALLENGE_EXPIRED');
  });

  it('are bound to the session that asked: another session of the same user has none to answer', async () => {
    const u = await signUp(t);
    expect((await t.gql(REG_OPTIONS, {}, u.accessToken)).errors).toBeUndefined();
    const otherSession = (await t.gql(SIGN_IN, { input: { email: u.email, password: PASSWORD } })).data!.signIn
      .accessToken as string;
    const res = await t.gql(REGISTER, { r: fakeAssertion('abc') }, otherSession);
    expect(reason(res)).toBe('CHALLENGE_EXPIRED');
    // The first session's challenge is still there, and a wrong answer spends it.
    expect(reason(await t.gql(REGISTER, { r: fakeAssertion('abc') }, u.accessToken))).toBe('PASSKEY_INVALID');
    expect(reason(await t.gql(REGISTER, { r: fakeAssertion('abc') }, u.accessToken))).toBe('CHALLENGE_EXPIRED');
    const [n] = await t.admin`select count(*)::int n from auth.passkeys where user_id = ${u.userId}`;
    expect(n?.n).toBe(0);
  });

  it('refuse what is not a credential before touching a challenge', async () => {
    const u = await signUp(t);
    await t.gql(REG_OPTIONS, {}, u.accessToken);
    for (const r of [null, 'x', [], { id: 'a b', rawId: 'a b', type: 'public-key', response: {} }]) {
      const res = await t.gql(REGISTER, { r }, u.accessToken);
      expect(codeOf(res), JSON.stringify(r)).toBe('BAD_USER_INPUT');
    }
    // The challenge survived the malformed answers.
    expect(reason(await t.gql(REGISTER, { r: fakeAssertion('abc') }, u.accessToken))).toBe('PASSKEY_INVALID');
  });
});

describe('passkey sign-in attempts', () => {
  it('are rate limited per credential and client like passwords', async () => {
    const limited = await startGateway({ ...NO_LIMITS, RATE_LIMIT_SIGNIN_EMAIL_MAX: '2' });
    try {
      const codes: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const { flowId } = (await limited.gql(SIGNIN_OPTIONS)).data!.passkeySignInOptions;
        codes.push(codeOf(await limited.gql(SIGNIN, { f: flowId, r: fakeAssertion('guessed') })));
      }
      expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'RATE_LIMITED']);
      // Another credential from the same client is counted apart.
      const { flowId } = (await limited.gql(SIGNIN_OPTIONS)).data!.passkeySignInOptions;
      expect(codeOf(await limited.gql(SIGNIN, { f: flowId, r: fakeAssertion('another') }))).toBe('INVALID_CREDENTIALS');
    } finally {
      await limited.close();
    }
  });
});

describe('the passkey tables', () => {
  it('force row level security, with a policy for the auth path alone, and grant requests nothing', async () => {
    const tables = await t.admin`
      select c.relname, c.relrowsecurity, c.relforcerowsecurity,
             (select array_agg(distinct r) from pg_policies p, unnest(p.roles) r
               where p.schemaname = 'auth' and p.tablename = c.relname) as roles,
             has_table_privilege('authenticated', c.oid, 'select') as authenticated_reads,
             has_table_privilege('anon', c.oid, 'select') as anon_reads
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'auth' and c.relname in ('passkeys', 'passkey_challenges') order by c.relname`;
    expect(tables.map((r) => ({ ...r }))).toEqual(
      ['passkey_challenges', 'passkeys'].map((relname) => ({
        relname,
        relrowsecurity: true,
        relforcerowsecurity: true,
        roles: ['authgate_auth'],
        authenticated_reads: false,
        anon_reads: false,
      })),
    );
  });
});

describe('the relying party configuration', () => {
  it('defaults to PUBLIC_URL and refuses origins outside the RP ID', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://auth.example.com' }).webauthn).toEqual({
      rpId: 'auth.example.com',
      rpName: 'authgate',
      origins: ['https://auth.example.com'],
    });
    expect(
      loadConfig({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://app.example.com, https://example.com' })
        .webauthn.origins,
    ).toEqual(['https://app.example.com', 'https://example.com']);
    for (const origins of [
      'https://evil.com',
      'https://example.com.evil.com',
      'https://app.example.com/path',
      'nope',
    ]) {
      expect(() => loadConfig({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: origins }), origins).toThrow(
        ConfigError,
      );
    }
    expect(() => loadConfig({ WEBAUTHN_RP_ID: 'https://example.com' })).toThrow(ConfigError);
  });
});
