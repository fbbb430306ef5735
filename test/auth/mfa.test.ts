import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  codeOf,
  type GqlResponse,
  PASSWORD,
  REFRESH,
  type Session,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

/**
 * TOTP second factors end to end: otpauth plays the authenticator app, a real gateway and
 * Postgres do the rest. Each session's aal shows in three places that must agree: the
 * payload, the access token's claims and auth.sessions; RLS policies read the claim.
 */

const ISSUER = 'authgate-test';

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway({ MFA_ISSUER: ISSUER });
});
afterAll(async () => {
  await t?.close();
});

const PAYLOAD = 'accessToken refreshToken aal mfaRequired user { id }';
const FACTORS = 'query { mfaFactors { id factorType friendlyName status createdAt } }';
const ENROLL = 'mutation E($name: String) { mfaEnroll(friendlyName: $name) { factorId secret uri qrCode } }';
const ACTIVATE = `mutation A($id: ID!, $code: String!) {
  mfaActivate(factorId: $id, code: $code) { session { ${PAYLOAD} } recoveryCodes } }`;
const VERIFY = `mutation V($id: ID!, $code: String!) { mfaVerify(factorId: $id, code: $code) { ${PAYLOAD} } }`;
const VERIFY_RECOVERY = `mutation R($code: String!) { mfaVerifyRecoveryCode(code: $code) { ${PAYLOAD} } }`;
const UNENROLL = 'mutation U($id: ID!) { mfaUnenroll(factorId: $id) }';
const REGENERATE = 'mutation { mfaRegenerateRecoveryCodes }';
const SIGN_IN = `mutation S($input: SignInInput!) { signIn(input: $input) { ${PAYLOAD} } }`;

type Payload = { accessToken: string; refreshToken: string; aal: string; mfaRequired: boolean };
type Enrollment = { factorId: string; secret: string; uri: string; qrCode: string };
/** A user whose first factor is active, and the aal2 session that activated it. */
type Enrolled = { user: Session; factorId: string; secret: string; aal2: Payload; recoveryCodes: string[] };

/** The authenticator app: the code of the step `steps` periods from now. */
const codeAt = (secret: string, steps = 0): string =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({
    timestamp: Date.now() + steps * 30_000,
  });

/** Six digits that are no code of this secret anywhere near now. */
function wrongCode(secret: string): string {
  const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((s) => codeAt(secret, s)));
  for (let d = 0; ; d++) {
    const candidate = String(d).repeat(6);
    if (!near.has(candidate)) return candidate;
  }
}

const claimsOf = (p: { accessToken: string }) => decodeJwt(p.accessToken) as Record<string, any>;
const methods = (p: { accessToken: string }) => (claimsOf(p).amr as Array<{ method: string }>).map((a) => a.method);

/** Data of a request that must succeed; fails the test with the errors otherwise. */
function ok<T = any>(res: GqlResponse, field: string): T {
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data![field] as T;
}

async function signIn(s: Session, gw = t): Promise<Payload> {
  return ok(await gw.gql(SIGN_IN, { input: { email: s.email, password: PASSWORD } }), 'signIn');
}

async function enroll(token: string, name?: string, gw = t): Promise<Enrollment> {
  return ok(await gw.gql(ENROLL, { name }, token), 'mfaEnroll');
}

async function enrolled(gw = t): Promise<Enrolled> {
  const user = await signUp(gw);
  const { factorId, secret } = await enroll(user.accessToken, 'phone', gw);
  const activation = ok(
    await gw.gql(ACTIVATE, { id: factorId, code: codeAt(secret) }, user.accessToken),
    'mfaActivate',
  );
  return { user, factorId, secret, aal2: activation.session, recoveryCodes: activation.recoveryCodes };
}

const factorRow = async (id: string) => {
  const [row] = await t.admin<{ status: string; last_used_step: string | null; secret: string }[]>`
    select status, last_used_step, secret from auth.mfa_factors where id = ${id}`;
  return row;
};

describe('enrollment', () => {
  it('returns a secret, its otpauth URI and a QR code, and stores the secret encrypted', async () => {
    const user = await signUp(t);
    const e = await enroll(user.accessToken, 'Work phone');
    expect(e.factorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(e.uri.startsWith(`otpauth://totp/${ISSUER}:${encodeURIComponent(user.email)}?`)).toBe(true);
    const params = new URL(e.uri).searchParams;
    expect(params.get('secret')).toBe(e.secret);
    expect(params.get('issuer')).toBe(ISSUER);
    expect(e.qrCode.startsWith('data:image/svg+xml;base64,')).toBe(true);
    expect(Buffer.from(e.qrCode.split(',')[1]!, 'base64').toString()).toContain('<svg');

    const row = await factorRow(e.factorId);
    expect(row!.status).toBe('unverified');
    expect(row!.secret).toMatch(/^v1:[\w-]+:[\w-]+:[\w-]+$/);
    expect(row!.secret).not.toContain(e.secret);
    expect(row!.secret.toLowerCase()).not.toContain(e.secret.toLowerCase());

    const factors = ok(await t.gql(FACTORS, {}, user.accessToken), 'mfaFactors');
    expect(factors).toEqual([
      {
        id: e.factorId,
        factorType: 'totp',
        friendlyName: 'Work phone',
        status: 'unverified',
        createdAt: expect.any(String),
      },
    ]);
  });

  it('keeps at most ten factors, dropping the oldest unfinished enrollment', async () => {
    const user = await signUp(t);
    const first = await enroll(user.accessToken);
    for (let i = 0; i < 10; i++) await enroll(user.accessToken);
    const [row] = await t.admin<{ n: number }[]>`
      select count(*)::int as n from auth.mfa_factors where user_id = ${user.userId}`;
    expect(row!.n).toBe(10);
    expect(await factorRow(first.factorId)).toBeUndefined();
  });

  it('refuses a second factor to an aal1 session once one is verified', async () => {
    const a = await enrolled();
    const aal1 = await signIn(a.user);
    const res = await t.gql(ENROLL, {}, aal1.accessToken);
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(res.errors![0]!.extensions!.reason).toBe('AAL2_REQUIRED');
    // The aal2 session may; the user already has recovery codes, so none come with it.
    const second = await enroll(a.aal2.accessToken, 'backup');
    const activation = ok(
      await t.gql(ACTIVATE, { id: second.factorId, code: codeAt(second.secret) }, a.aal2.accessToken),
      'mfaActivate',
    );
    expect(activation.recoveryCodes).toEqual([]);
  });
});

describe('activation', () => {
  it('refuses a wrong code, then verifies the factor and raises the same session to aal2', async () => {
    const user = await signUp(t);
    const { factorId, secret } = await enroll(user.accessToken);
    const wrong = await t.gql(ACTIVATE, { id: factorId, code: wrongCode(secret) }, user.accessToken);
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    expect((await factorRow(factorId))!.status).toBe('unverified');
    expect(codeOf(await t.gql(ACTIVATE, { id: factorId, code: '12345' }, user.accessToken))).toBe('BAD_USER_INPUT');

    const activation = ok(
      await t.gql(ACTIVATE, { id: factorId, code: codeAt(secret) }, user.accessToken),
      'mfaActivate',
    );
    const session = activation.session as Payload;
    expect(session.aal).toBe('aal2');
    expect(session.mfaRequired).toBe(false);
    const claims = claimsOf(session);
    expect(claims.aal).toBe('aal2');
    expect(methods(session)).toEqual(['password', 'totp']);
    expect(claims.session_id).toBe(claimsOf(user).session_id);
    expect(session.refreshToken).not.toBe(user.refreshToken);
    const [row] = await t.admin<{ aal: string; amr: Array<{ method: string }> }[]>`
      select aal, amr from auth.sessions where id = ${claims.session_id}`;
    expect(row!.aal).toBe('aal2');
    expect(row!.amr.map((a) => a.method)).toEqual(['password', 'totp']);

    const codes = activation.recoveryCodes as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[a-z2-7]{5}-[a-z2-7]{5}$/);
    const stored = await t.admin<{ code_hash: string }[]>`
      select code_hash from auth.mfa_recovery_codes where user_id = ${user.userId}`;
    expect(stored).toHaveLength(10);
    for (const s of stored) for (const c of codes) expect(s.code_hash).not.toContain(c.replace('-', ''));

    const factors = ok(await t.gql(FACTORS, {}, session.accessToken), 'mfaFactors');
    expect(factors).toMatchObject([{ id: factorId, status: 'verified' }]);
    // Activation happens once.
    const again = await t.gql(ACTIVATE, { id: factorId, code: codeAt(secret, 1) }, session.accessToken);
    expect(codeOf(again)).toBe('BAD_USER_INPUT');
  });
});

describe('the sign-in challenge', () => {
  it('starts aal1 with mfaRequired, reaches aal2 with a code, and accepts each code once', async () => {
    const a = await enrolled();
    const first = await signIn(a.user);
    expect(first.aal).toBe('aal1');
    expect(first.mfaRequired).toBe(true);
    expect(claimsOf(first).aal).toBe('aal1');

    // The activation spent this step's code; the app's next one is new.
    const code = codeAt(a.secret, 1);
    const passed = ok<Payload>(await t.gql(VERIFY, { id: a.factorId, code }, first.accessToken), 'mfaVerify');
    expect(passed.aal).toBe('aal2');
    expect(passed.mfaRequired).toBe(false);
    expect(claimsOf(passed)).toMatchObject({ aal: 'aal2', session_id: claimsOf(first).session_id });
    expect(methods(passed)).toEqual(['password', 'totp']);

    const second = await signIn(a.user);
    const replay = await t.gql(VERIFY, { id: a.factorId, code }, second.accessToken);
    expect(codeOf(replay)).toBe('INVALID_CREDENTIALS');
    const wrong = await t.gql(VERIFY, { id: a.factorId, code: wrongCode(a.secret) }, second.accessToken);
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    const [row] = await t.admin<
      { aal: string }[]
    >`select aal from auth.sessions where id = ${claimsOf(second).session_id}`;
    expect(row!.aal).toBe('aal1');
    expect(codeOf(await t.gql(VERIFY, { id: a.factorId, code: 'abcdef' }, second.accessToken))).toBe('BAD_USER_INPUT');
  });

  it('counts code attempts per user when rate limits are on', async () => {
    const limited = await startGateway({ RATE_LIMIT_SIGNIN_EMAIL_MAX: '3' });
    try {
      // The activation is the first of three attempts in the window.
      const a = await enrolled(limited);
      const aal1 = await signIn(a.user, limited);
      const attempt = (code: string) => limited.gql(VERIFY, { id: a.factorId, code }, aal1.accessToken);
      expect(codeOf(await attempt(wrongCode(a.secret)))).toBe('INVALID_CREDENTIALS');
      expect(codeOf(await attempt(wrongCode(a.secret)))).toBe('INVALID_CREDENTIALS');
      const refused = await attempt(codeAt(a.secret, 1));
      expect(codeOf(refused)).toBe('RATE_LIMITED');
      expect(refused.errors![0]!.extensions!.retryAfter).toBeGreaterThan(0);
      // Another user's attempts are their own.
      const b = await enrolled(limited);
      expect(b.aal2.aal).toBe('aal2');
    } finally {
      await limited.close();
    }
  });
});

describe('policies that read the aal claim', () => {
  it('let an aal2 token through a restrictive policy that stops an aal1 one', async () => {
    const a = await enrolled();
    const aal1 = await signIn(a.user);
    await t.admin.unsafe(`create policy profiles_update_needs_aal2 on public.profiles as restrictive
      for update to authenticated using ((auth.jwt() ->> 'aal') = 'aal2')`);
    try {
      const update = 'mutation U($name: String) { updateProfile(input: { fullName: $name }) { id fullName } }';
      const fullName = async () =>
        (
          await t.admin<
            { full_name: string | null }[]
          >`select full_name from public.profiles where id = ${a.user.userId}`
        )[0]!.full_name;
      const before = await fullName();
      // The policy hides the row from the update: no row comes back, and the resolver says
      // a policy refused it.
      const refused = await t.gql(update, { name: 'by aal1' }, aal1.accessToken);
      expect(codeOf(refused)).toBe('FORBIDDEN');
      expect(await fullName()).toBe(before);

      const allowed = await t.gql(update, { name: 'by aal2' }, a.aal2.accessToken);
      expect(ok(allowed, 'updateProfile')).toEqual({ id: a.user.userId, fullName: 'by aal2' });
      expect(await fullName()).toBe('by aal2');
    } finally {
      await t.admin.unsafe('drop policy if exists profiles_update_needs_aal2 on public.profiles');
    }
  });
});

describe('refresh', () => {
  it('keeps an aal2 session aal2, and retires the refresh token from before the upgrade', async () => {
    const a = await enrolled();
    const refreshed = ok(await t.gql(REFRESH, { token: a.aal2.refreshToken }), 'refresh');
    expect(claimsOf(refreshed)).toMatchObject({ aal: 'aal2', session_id: claimsOf(a.aal2).session_id });
    expect(methods(refreshed)).toContain('totp');
    const stale = await t.gql(REFRESH, { token: a.user.refreshToken });
    expect(codeOf(stale)).toBe('INVALID_REFRESH_TOKEN');
  });

  type Tokens = { accessToken: string; refreshToken: string };
  const refresh = (token: string) => t.gql(REFRESH, { token });
  /** The aal of the access token a refresh answered with; null when it answered none. */
  const aalOf = (res: GqlResponse): unknown => {
    const p = res.data?.refresh as Tokens | null | undefined;
    return p ? claimsOf(p).aal : null;
  };

  // The second factor at sign-in: a TOTP code, or a recovery code in its stead.
  const secondFactors: Array<[string, (a: Enrolled, aal1: Tokens) => Promise<GqlResponse>, string]> = [
    [
      'a TOTP code',
      (a, aal1) => t.gql(VERIFY, { id: a.factorId, code: codeAt(a.secret, 1) }, aal1.accessToken),
      'mfaVerify',
    ],
    [
      'a recovery code',
      (a, aal1) => t.gql(VERIFY_RECOVERY, { code: a.recoveryCodes[0] }, aal1.accessToken),
      'mfaVerifyRecoveryCode',
    ],
  ];

  it.each(secondFactors)(
    'refuses a spent pre-MFA refresh token replayed inside the reuse interval after %s, and never with aal2',
    async (_name, raise, field) => {
      const a = await enrolled();
      const first = await signIn(a.user);
      expect(first).toMatchObject({ aal: 'aal1', mfaRequired: true });
      const r1 = first.refreshToken;
      const r2 = ok<Tokens>(await refresh(r1), 'refresh').refreshToken;
      const raised = ok<Payload>(await raise(a, first), field);
      expect(raised.aal).toBe('aal2');
      const sessionId = claimsOf(first).session_id as string;

      // R1 was spent a moment ago: inside the reuse interval that forgives a client's retry.
      const replay = await refresh(r1);
      // Before the fix this was an aal2 access token, out of a token of the password-only session.
      expect(aalOf(replay), 'the replay was answered with an access token').toBeNull();
      expect(codeOf(replay)).toBe('INVALID_REFRESH_TOKEN');
      // R2, live when the session was raised, was retired with the raise.
      const retired = await refresh(r2);
      expect(aalOf(retired)).toBeNull();
      expect(codeOf(retired)).toBe('INVALID_REFRESH_TOKEN');

      // Refused, not revoked: inside the interval a replay is what the owner's own client does
      // when a refresh races the second factor, and it can no longer gain anything; ending the
      // session would sign the owner out of what they just proved, at the word of any holder
      // of a just-spent token. The aal2 session and its own chain carry on, at aal2.
      const [row] = await t.admin<{ aal: string }[]>`select aal from auth.sessions where id = ${sessionId}`;
      expect(row?.aal).toBe('aal2');
      expect(ok(await t.gql(FACTORS, {}, raised.accessToken), 'mfaFactors')).toHaveLength(1);
      const next = ok<Tokens>(await refresh(raised.refreshToken), 'refresh');
      expect(claimsOf(next)).toMatchObject({ aal: 'aal2', session_id: sessionId });
      expect(methods(next)).toContain(field === 'mfaVerify' ? 'totp' : 'recovery_code');
      const later = ok<Tokens>(await refresh(next.refreshToken), 'refresh');
      expect(claimsOf(later)).toMatchObject({ aal: 'aal2', session_id: sessionId });
    },
  );

  it('refuses the same replay after mfaActivate raised the session that enrolled the first factor', async () => {
    const user = await signUp(t);
    const r2 = ok<Tokens>(await refresh(user.refreshToken), 'refresh').refreshToken;
    const { factorId, secret } = await enroll(user.accessToken);
    const activation = ok(
      await t.gql(ACTIVATE, { id: factorId, code: codeAt(secret) }, user.accessToken),
      'mfaActivate',
    );
    expect(activation.session.aal).toBe('aal2');

    const replay = await refresh(user.refreshToken);
    expect(aalOf(replay), 'the replay was answered with an access token').toBeNull();
    expect(codeOf(replay)).toBe('INVALID_REFRESH_TOKEN');
    expect(codeOf(await refresh(r2))).toBe('INVALID_REFRESH_TOKEN');
    const next = ok<Tokens>(await refresh(activation.session.refreshToken), 'refresh');
    expect(claimsOf(next)).toMatchObject({ aal: 'aal2', session_id: claimsOf(user).session_id });
  });

  it('still forgives a replay inside the reuse interval of a session no second factor raised', async () => {
    // A user without a factor, and one with a factor whose session has not used it (aal1).
    const plain = await signUp(t);
    const pending = await signIn((await enrolled()).user);
    expect(pending.mfaRequired).toBe(true);
    for (const r1 of [plain.refreshToken, pending.refreshToken]) {
      const once = ok<Tokens>(await refresh(r1), 'refresh');
      const again = ok<Tokens>(await refresh(r1), 'refresh');
      // The same successor: the retry joins the one live chain instead of starting a second.
      expect(again.refreshToken).toBe(once.refreshToken);
      expect(claimsOf(again)).toMatchObject({ aal: 'aal1', session_id: claimsOf(once).session_id });
      expect(claimsOf(ok<Tokens>(await refresh(again.refreshToken), 'refresh')).aal).toBe('aal1');
    }
  });
});

describe('recovery codes', () => {
  it('raise a session to aal2 once each', async () => {
    const a = await enrolled();
    const [code, other] = a.recoveryCodes as [string, string];
    const s1 = await signIn(a.user);
    const passed = ok<Payload>(await t.gql(VERIFY_RECOVERY, { code }, s1.accessToken), 'mfaVerifyRecoveryCode');
    expect(passed.aal).toBe('aal2');
    expect(claimsOf(passed).aal).toBe('aal2');
    expect(methods(passed)).toEqual(['password', 'recovery_code']);

    const s2 = await signIn(a.user);
    expect(codeOf(await t.gql(VERIFY_RECOVERY, { code }, s2.accessToken))).toBe('INVALID_CREDENTIALS');
    expect(codeOf(await t.gql(VERIFY_RECOVERY, { code: 'aaaaa-aaaaa' }, s2.accessToken))).toBe('INVALID_CREDENTIALS');
    // Typed without the dash, in capitals: the same code.
    const typed = other.replace('-', '').toUpperCase();
    expect(
      ok<Payload>(await t.gql(VERIFY_RECOVERY, { code: typed }, s2.accessToken), 'mfaVerifyRecoveryCode').aal,
    ).toBe('aal2');
  });

  it('are replaced by mfaRegenerateRecoveryCodes, which needs aal2', async () => {
    const a = await enrolled();
    const aal1 = await signIn(a.user);
    const refused = await t.gql(REGENERATE, {}, aal1.accessToken);
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(refused.errors![0]!.extensions!.reason).toBe('AAL2_REQUIRED');

    const fresh = ok<string[]>(await t.gql(REGENERATE, {}, a.aal2.accessToken), 'mfaRegenerateRecoveryCodes');
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(a.recoveryCodes[0]);
    const oldCode = await t.gql(VERIFY_RECOVERY, { code: a.recoveryCodes[0] }, aal1.accessToken);
    expect(codeOf(oldCode)).toBe('INVALID_CREDENTIALS');
    const newCode = await t.gql(VERIFY_RECOVERY, { code: fresh[0] }, aal1.accessToken);
    expect(ok<Payload>(newCode, 'mfaVerifyRecoveryCode').aal).toBe('aal2');
  });
});

describe('unenroll', () => {
  it('needs an aal2 token of a session that is aal2, and the last factor takes the codes along', async () => {
    const a = await enrolled();
    const aal1 = await signIn(a.user);
    const refused = await t.gql(UNENROLL, { id: a.factorId }, aal1.accessToken);
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(refused.errors![0]!.extensions!.reason).toBe('AAL2_REQUIRED');
    // An aal1 token of a session raised since is not enough either: it was issued before.
    const raised = ok<Payload>(
      await t.gql(VERIFY, { id: a.factorId, code: codeAt(a.secret, 1) }, aal1.accessToken),
      'mfaVerify',
    );
    expect(codeOf(await t.gql(UNENROLL, { id: a.factorId }, aal1.accessToken))).toBe('FORBIDDEN');
    // Nor is an aal2 token whose session the database no longer holds at aal2.
    await t.admin`update auth.sessions set aal = 'aal1' where id = ${claimsOf(raised).session_id}`;
    expect(codeOf(await t.gql(UNENROLL, { id: a.factorId }, raised.accessToken))).toBe('FORBIDDEN');
    expect((await factorRow(a.factorId))!.status).toBe('verified');

    expect(ok(await t.gql(UNENROLL, { id: a.factorId }, a.aal2.accessToken), 'mfaUnenroll')).toBe(true);
    expect(await factorRow(a.factorId)).toBeUndefined();
    expect(ok(await t.gql(FACTORS, {}, a.aal2.accessToken), 'mfaFactors')).toEqual([]);
    const [codes] = await t.admin<{ n: number }[]>`
      select count(*)::int as n from auth.mfa_recovery_codes where user_id = ${a.user.userId}`;
    expect(codes!.n).toBe(0);
    const after = await signIn(a.user);
    expect(after.mfaRequired).toBe(false);
    expect(after.aal).toBe('aal1');
  });

  it('lets a user without a verified factor drop an unfinished enrollment at aal1', async () => {
    const user = await signUp(t);
    const e = await enroll(user.accessToken);
    expect(ok(await t.gql(UNENROLL, { id: e.factorId }, user.accessToken), 'mfaUnenroll')).toBe(true);
    expect(await factorRow(e.factorId)).toBeUndefined();
  });
});

describe("another user's factor", () => {
  it('cannot be activated, verified or removed, and reads like an unknown id', async () => {
    const a = await enrolled();
    const pending = await enroll(a.aal2.accessToken, 'pending');
    const b = await signUp(t);
    const before = { verified: await factorRow(a.factorId), pending: await factorRow(pending.factorId) };
    const next = codeAt(a.secret, 1);

    const notFound = (res: GqlResponse) => {
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.extensions!.reason).toBe('FACTOR_NOT_FOUND');
    };
    notFound(await t.gql(ACTIVATE, { id: pending.factorId, code: codeAt(pending.secret) }, b.accessToken));
    notFound(await t.gql(VERIFY, { id: a.factorId, code: next }, b.accessToken));
    notFound(await t.gql(UNENROLL, { id: a.factorId }, b.accessToken));
    notFound(await t.gql(UNENROLL, { id: pending.factorId }, b.accessToken));
    notFound(await t.gql(VERIFY, { id: randomUUID(), code: next }, b.accessToken));
    notFound(await t.gql(VERIFY, { id: 'not-a-uuid', code: next }, b.accessToken));
    expect(ok(await t.gql(FACTORS, {}, b.accessToken), 'mfaFactors')).toEqual([]);

    expect(await factorRow(a.factorId)).toEqual(before.verified);
    expect(await factorRow(pending.factorId)).toEqual(before.pending);
    // B's attempt spent nothing: A's app's code still works for A.
    const aal1 = await signIn(a.user);
    expect(ok<Payload>(await t.gql(VERIFY, { id: a.factorId, code: next }, aal1.accessToken), 'mfaVerify').aal).toBe(
      'aal2',
    );
  });
});

describe('without a bearer token', () => {
  it('refuses every MFA field with UNAUTHENTICATED', async () => {
    const id = randomUUID();
    const requests: Array<[string, Record<string, unknown>]> = [
      [FACTORS, {}],
      [ENROLL, {}],
      [ACTIVATE, { id, code: '123456' }],
      [VERIFY, { id, code: '123456' }],
      [VERIFY_RECOVERY, { code: 'aaaaa-aaaaa' }],
      [UNENROLL, { id }],
      [REGENERATE, {}],
    ];
    for (const [query, variables] of requests) {
      const res = await t.gql(query, variables);
      expect(codeOf(res), query).toBe('UNAUTHENTICATED');
    }
  });
});
