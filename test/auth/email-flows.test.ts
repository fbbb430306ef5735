import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CaughtMail, linksIn, type MailCatcher, startMailCatcher } from '../../src/mail/catcher.js';
import {
  codeOf,
  email,
  type GqlResponse,
  PASSWORD,
  REFRESH,
  SIGN_IN,
  SIGN_UP,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

/**
 * The mailed flows (sign-up confirmation, password recovery, magic link and six-digit code,
 * email change) end to end: a real gateway sends real mail over SMTP to a catcher in this
 * process, and every link and code used below is read from a caught message, never from
 * the database.
 */

const LINK_URL = 'http://app.example.test/auth/callback';
const NEW_PASSWORD = 'a fresh recovery passphrase';
const OTHER_PASSWORD = 'yet another passphrase 7';

let catcher: MailCatcher;
/** REQUIRE_EMAIL_CONFIRMATION=true, EMAIL_OTP_MAX_ATTEMPTS=3. */
let t: TestGateway;
/** Confirmation off, the default. */
let plain: TestGateway;
/** Confirmation on, RATE_LIMIT_EMAIL_MAX=2, slow password hashes (so a hash shows in the time taken). */
let limited: TestGateway;
const logs: string[] = [];

beforeAll(async () => {
  catcher = await startMailCatcher();
  const mail = { SMTP_URL: catcher.url, MAIL_LINK_URL: LINK_URL, LOG_LEVEL: 'debug' };
  // One at a time: the first migration of a cluster creates its shared roles.
  t = await startGateway({ ...mail, REQUIRE_EMAIL_CONFIRMATION: 'true', EMAIL_OTP_MAX_ATTEMPTS: '3' }, { logs });
  plain = await startGateway(mail, { logs });
  limited = await startGateway(
    { ...mail, REQUIRE_EMAIL_CONFIRMATION: 'true', RATE_LIMIT_EMAIL_MAX: '2', ARGON2_TIME_COST: '12' },
    { logs },
  );
});
afterAll(async () => {
  await Promise.all([t?.close(), plain?.close(), limited?.close()]);
  await catcher?.close();
});

const REGISTER = /* GraphQL */ `
  mutation Register($input: SignUpInput!) {
    register(input: $input) {
      user { id email pendingEmail emailConfirmedAt isAnonymous }
      session { accessToken refreshToken }
      confirmationRequired
    }
  }`;
const PAYLOAD = 'accessToken refreshToken user { id email emailConfirmedAt }';
const VERIFY_EMAIL = `mutation VerifyEmail($token: String!) { verifyEmail(token: $token) { ${PAYLOAD} } }`;
const RESEND = 'mutation Resend($email: String!) { resendConfirmation(email: $email) }';
const REQUEST_RESET = 'mutation RequestReset($email: String!) { requestPasswordReset(email: $email) }';
const RESET = `mutation Reset($token: String!, $password: String!) {
  resetPassword(token: $token, newPassword: $password) { ${PAYLOAD} } }`;
const OTP = `mutation Otp($email: String!, $createUser: Boolean) {
  signInWithOtp(email: $email, createUser: $createUser) }`;
const MAGIC = `mutation Magic($token: String!) { verifyMagicLink(token: $token) { ${PAYLOAD} } }`;
const VERIFY_OTP = `mutation VerifyOtp($email: String!, $code: String!) {
  verifyOtp(email: $email, code: $code) { ${PAYLOAD} } }`;
const UPDATE_USER =
  'mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { id email pendingEmail } }';
const CONFIRM_CHANGE =
  'mutation ConfirmChange($token: String!) { confirmEmailChange(token: $token) { complete email awaiting } }';
const ME = 'query Me { me { id email emailConfirmedAt isAnonymous } }';

/** Every password this file sends: no mail may contain one. */
const PASSWORDS = [PASSWORD, NEW_PASSWORD, OTHER_PASSWORD, 'not the password'];

/** Mails a test already took, so a resend's mail is told from the first one. */
const taken = new Set<CaughtMail>();

/** The next mail to `address` that no earlier call returned. */
async function nextMail(address: string): Promise<CaughtMail> {
  const mail = await catcher.waitFor((m) => m.to.includes(address) && !taken.has(m));
  taken.add(mail);
  return mail;
}

/** Every mail `address` received, once the gateways handed all queued mail to SMTP. */
async function mailsTo(address: string): Promise<CaughtMail[]> {
  await Promise.all([t.gateway.mailer.idle(), plain.gateway.mailer.idle(), limited.gateway.mailer.idle()]);
  return catcher.messages.filter((m) => m.to.includes(address));
}

const decodeHtml = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

/**
 * The one app link of a mail: present in the plain text and (as the button's href) in the
 * HTML, pointing at MAIL_LINK_URL with ?token=…&type=….
 */
function linkOf(mail: CaughtMail): { link: string; token: string; type: string | null } {
  const links = linksIn(mail).filter((l) => l.startsWith(`${LINK_URL}?`));
  expect(links).toHaveLength(1);
  const link = links[0]!;
  const hrefs = [...mail.html.matchAll(/href="([^"]*)"/g)].map((m) => decodeHtml(m[1]!));
  expect(hrefs).toContain(link);
  const url = new URL(link);
  expect(`${url.origin}${url.pathname}`).toBe(LINK_URL);
  const token = url.searchParams.get('token');
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return { link, token: token!, type: url.searchParams.get('type') };
}

/** The six-digit code of a sign-in mail, the same in text and HTML. */
function otpIn(mail: CaughtMail): string {
  const code = /code: (\d{6})\b/.exec(mail.text)?.[1];
  expect(code).toMatch(/^\d{6}$/);
  expect(mail.html).toContain(`>${code}<`);
  return code!;
}

const reasonOf = (res: GqlResponse): unknown => res.errors?.[0]?.extensions?.reason;

/** The error code and reason of a refused token: INVALID_TOKEN is BAD_USER_INPUT. */
const refusal = (res: GqlResponse) => ({ code: codeOf(res), reason: reasonOf(res), data: res.data ?? null });
const INVALID_TOKEN = { code: 'BAD_USER_INPUT', reason: 'INVALID_TOKEN', data: null };

const signIn = (gw: TestGateway, mail: string, password = PASSWORD) =>
  gw.gql(SIGN_IN, { input: { email: mail, password } });

/** The caller's id, or the error code the request failed with. */
async function whoAmI(gw: TestGateway, accessToken: string): Promise<unknown> {
  const res = await gw.gql(ME, {}, accessToken);
  return res.errors ? codeOf(res) : res.data?.me?.id;
}

const count = async (gw: TestGateway, table: string, where: string, value: string): Promise<number> => {
  const [row] = await gw.admin.unsafe(`select count(*)::int as n from ${table} where ${where} = $1`, [value]);
  return Number(row?.n);
};

/** register on the confirming gateway, then the mailed link: a confirmed user with a session. */
async function confirmedUser(gw = t) {
  const mail = email('confirmed');
  const reg = await gw.gql(REGISTER, { input: { email: mail, password: PASSWORD } });
  expect(reg.errors).toBeUndefined();
  const verified = await gw.gql(VERIFY_EMAIL, { token: linkOf(await nextMail(mail)).token });
  expect(verified.errors).toBeUndefined();
  const p = verified.data!.verifyEmail;
  return { email: mail, userId: p.user.id as string, accessToken: p.accessToken as string };
}

describe('sign-up confirmation (REQUIRE_EMAIL_CONFIRMATION=true)', () => {
  it('register creates the user with no session and mails a link that verifyEmail accepts exactly once', async () => {
    const mail = email('confirm');
    const reg = await t.gql(REGISTER, { input: { email: mail, password: PASSWORD } });
    expect(reg.errors).toBeUndefined();
    const result = reg.data!.register;
    expect(result).toMatchObject({ session: null, confirmationRequired: true });
    // The address is only pending: it is in no token and holds nothing until the link is used.
    expect(result.user).toMatchObject({ email: '', pendingEmail: mail, emailConfirmedAt: null, isAnonymous: false });
    expect(await count(t, 'auth.sessions', 'user_id', result.user.id)).toBe(0);

    const mailed = await nextMail(mail);
    expect(mailed.to).toEqual([mail]);
    expect(mailed.subject).toBe('Confirm your email');
    const { token, type } = linkOf(mailed);
    expect(type).toBe('confirmation');

    const verified = await t.gql(VERIFY_EMAIL, { token });
    expect(verified.errors).toBeUndefined();
    const p = verified.data!.verifyEmail;
    expect(p.user.id).toBe(result.user.id);
    expect(decodeJwt(p.accessToken).sub).toBe(result.user.id);
    expect(p.user.email).toBe(mail);
    expect(decodeJwt(p.accessToken).email).toBe(mail);
    const me = (await t.gql(ME, {}, p.accessToken)).data!.me;
    expect(me.id).toBe(result.user.id);
    expect(Number.isNaN(Date.parse(me.emailConfirmedAt))).toBe(false);
    expect((await t.gql(REFRESH, { token: p.refreshToken })).errors).toBeUndefined();

    expect(refusal(await t.gql(VERIFY_EMAIL, { token }))).toEqual(INVALID_TOKEN);
    // Confirmed: the password signs in now.
    expect((await signIn(t, mail)).data?.signIn.user.id).toBe(result.user.id);
  });

  it('refuses signIn before confirmation with EMAIL_NOT_CONFIRMED, but only after the password matched', async () => {
    const mail = email('unconfirmed');
    const reg = await t.gql(REGISTER, { input: { email: mail, password: PASSWORD } });
    const userId = reg.data!.register.user.id as string;

    const early = await signIn(t, mail);
    expect(codeOf(early)).toBe('FORBIDDEN');
    expect(reasonOf(early)).toBe('EMAIL_NOT_CONFIRMED');
    expect(early.data?.signIn ?? null).toBeNull();

    // A wrong password tells nothing about the account: the same answer as an unknown email.
    const wrong = await signIn(t, mail, 'not the password');
    const unknown = await signIn(t, email('nobody'), 'not the password');
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    expect(wrong.errors).toEqual(unknown.errors);
    expect(await count(t, 'auth.sessions', 'user_id', userId)).toBe(0);
  });

  it('refuses signUp with EMAIL_CONFIRMATION_REQUIRED, creating nothing and mailing nothing', async () => {
    const mail = email('signup');
    const res = await t.gql(SIGN_UP, { input: { email: mail, password: PASSWORD } });
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(reasonOf(res)).toBe('EMAIL_CONFIRMATION_REQUIRED');
    expect(res.data?.signUp ?? null).toBeNull();
    expect(await count(t, 'auth.users', 'email', mail)).toBe(0);
    expect(await mailsTo(mail)).toEqual([]);
  });

  it('resendConfirmation mails a new link that works, and the previous link stops working', async () => {
    const mail = email('resend');
    const reg = await t.gql(REGISTER, { input: { email: mail, password: PASSWORD } });
    const first = linkOf(await nextMail(mail));

    expect((await t.gql(RESEND, { email: mail })).data).toEqual({ resendConfirmation: true });
    const second = linkOf(await nextMail(mail));
    expect(second.type).toBe('confirmation');
    expect(second.token).not.toBe(first.token);

    expect(refusal(await t.gql(VERIFY_EMAIL, { token: first.token }))).toEqual(INVALID_TOKEN);
    const ok = await t.gql(VERIFY_EMAIL, { token: second.token });
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.verifyEmail.user.id).toBe(reg.data!.register.user.id);

    // Confirmed or unknown: the same true, and no mail.
    const before = (await mailsTo(mail)).length;
    expect((await t.gql(RESEND, { email: mail })).data).toEqual({ resendConfirmation: true });
    const nobody = email('nobody');
    expect((await t.gql(RESEND, { email: nobody })).data).toEqual({ resendConfirmation: true });
    expect(await mailsTo(mail)).toHaveLength(before);
    expect(await mailsTo(nobody)).toEqual([]);
  });

  it('rate-limits resendConfirmation per address (RATE_LIMIT_EMAIL_MAX) with RATE_LIMITED and retryAfter', async () => {
    const mail = email('limited');
    const reg = await limited.gql(REGISTER, { input: { email: mail, password: PASSWORD } });
    expect(reg.errors).toBeUndefined();
    await nextMail(mail);
    for (let i = 0; i < 2; i++) {
      expect((await limited.gql(RESEND, { email: mail })).data).toEqual({ resendConfirmation: true });
      await nextMail(mail);
    }
    const refused = await limited.gql(RESEND, { email: mail });
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    const retryAfter = refused.errors?.[0]?.extensions?.retryAfter;
    expect(typeof retryAfter).toBe('number');
    expect(retryAfter as number).toBeGreaterThan(0);
    expect(retryAfter as number).toBeLessThanOrEqual(300);
    // The refused request mailed nothing: the sign-up mail and two resends.
    expect(await mailsTo(mail)).toHaveLength(3);

    // The limit is per address: another one still gets its mail.
    const other = email('limited');
    await limited.gql(REGISTER, { input: { email: other, password: PASSWORD } });
    await nextMail(other);
    expect((await limited.gql(RESEND, { email: other })).data).toEqual({ resendConfirmation: true });
    expect(linkOf(await nextMail(other)).type).toBe('confirmation');
  });
});

describe('without confirmation (the default)', () => {
  it('signUp and register answer with tokens at once and mail nothing', async () => {
    const a = await signUp(plain);
    expect(await whoAmI(plain, a.accessToken)).toBe(a.userId);

    const mail = email('register');
    const reg = await plain.gql(REGISTER, { input: { email: mail, password: PASSWORD } });
    expect(reg.errors).toBeUndefined();
    const result = reg.data!.register;
    expect(result.confirmationRequired).toBe(false);
    expect(result.session).not.toBeNull();
    expect(await whoAmI(plain, result.session.accessToken)).toBe(result.user.id);
    expect((await signIn(plain, mail)).errors).toBeUndefined();

    expect(await mailsTo(a.email)).toEqual([]);
    expect(await mailsTo(mail)).toEqual([]);
  });
});

describe('password recovery', () => {
  it('answers requestPasswordReset the same for a known and an unknown address, and mails only the known one', async () => {
    const s = await signUp(plain);
    const unknown = email('nobody');
    const known = await plain.gql(REQUEST_RESET, { email: s.email });
    const stranger = await plain.gql(REQUEST_RESET, { email: unknown });
    expect(known).toEqual({ status: 200, data: { requestPasswordReset: true } });
    expect(stranger).toEqual(known);

    const mails = await mailsTo(s.email);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('Reset your password');
    expect(await mailsTo(unknown)).toEqual([]);
  });

  it('sets a new password from the link: a weak one is refused without spending it, and every old session ends', async () => {
    const s = await signUp(plain);
    const second = (await signIn(plain, s.email)).data!.signIn;
    await plain.gql(REQUEST_RESET, { email: s.email });
    const { token, type } = linkOf(await nextMail(s.email));
    expect(type).toBe('recovery');

    expect(codeOf(await plain.gql(RESET, { token, password: 'short' }))).toBe('WEAK_PASSWORD');
    // Nothing changed yet.
    expect(await whoAmI(plain, s.accessToken)).toBe(s.userId);
    expect((await signIn(plain, s.email)).errors).toBeUndefined();

    const reset = await plain.gql(RESET, { token, password: NEW_PASSWORD });
    expect(reset.errors).toBeUndefined();
    const p = reset.data!.resetPassword;
    expect(p.user.id).toBe(s.userId);
    expect(decodeJwt(p.accessToken).amr).toEqual([{ method: 'recovery', timestamp: expect.any(Number) }]);
    expect(await whoAmI(plain, p.accessToken)).toBe(s.userId);

    expect(codeOf(await signIn(plain, s.email))).toBe('INVALID_CREDENTIALS');
    expect((await signIn(plain, s.email, NEW_PASSWORD)).data?.signIn.user.id).toBe(s.userId);

    for (const old of [s, second]) {
      expect(await whoAmI(plain, old.accessToken)).toBe('UNAUTHENTICATED');
      expect(codeOf(await plain.gql(REFRESH, { token: old.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    }

    // The link works once.
    expect(refusal(await plain.gql(RESET, { token, password: OTHER_PASSWORD }))).toEqual(INVALID_TOKEN);
    expect(codeOf(await signIn(plain, s.email, OTHER_PASSWORD))).toBe('INVALID_CREDENTIALS');
  });

  it('refuses an expired link with INVALID_TOKEN and leaves the password as it was; maintenance removes it', async () => {
    const s = await signUp(plain);
    await plain.gql(REQUEST_RESET, { email: s.email });
    const { token } = linkOf(await nextMail(s.email));
    await plain.admin`update auth.one_time_tokens set expires_at = now() - interval '1 second'
                      where user_id = ${s.userId} and kind = 'recovery'`;

    expect(refusal(await plain.gql(RESET, { token, password: NEW_PASSWORD }))).toEqual(INVALID_TOKEN);
    expect((await signIn(plain, s.email)).errors).toBeUndefined();
    expect(codeOf(await signIn(plain, s.email, NEW_PASSWORD))).toBe('INVALID_CREDENTIALS');

    expect(await count(plain, 'auth.one_time_tokens', 'user_id', s.userId)).toBe(1);
    await plain.gateway.maintenance.run();
    expect(await count(plain, 'auth.one_time_tokens', 'user_id', s.userId)).toBe(0);
  });

  it('answers a made-up recovery token with INVALID_TOKEN at once, without hashing the new password', async () => {
    const mail = email('slow');
    await limited.gql(REGISTER, { input: { email: mail, password: PASSWORD } });
    await nextMail(mail);
    const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
      const started = performance.now();
      const out = await fn();
      return [out, performance.now() - started];
    };
    // What one password hash costs on this gateway: a sign-in with a wrong password.
    const [wrong, hashMs] = await timed(() => signIn(limited, mail, 'not the password'));
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    expect(hashMs).toBeGreaterThan(60);

    const madeUp = 'A'.repeat(43);
    const [res, resetMs] = await timed(() => limited.gql(RESET, { token: madeUp, password: NEW_PASSWORD }));
    expect(refusal(res)).toEqual(INVALID_TOKEN);
    expect(resetMs).toBeLessThan(hashMs / 2);
    // Whatever the password: a dead link is the answer, not the password policy.
    expect(refusal(await limited.gql(RESET, { token: madeUp, password: 'short' }))).toEqual(INVALID_TOKEN);
    expect(refusal(await limited.gql(RESET, { token: 'not a token', password: 'short' }))).toEqual(INVALID_TOKEN);
  });

  it('a recovery link is neither a magic link nor a confirmation link, and such tries do not spend it', async () => {
    const s = await signUp(plain);
    await plain.gql(REQUEST_RESET, { email: s.email });
    const { token } = linkOf(await nextMail(s.email));

    expect(refusal(await plain.gql(MAGIC, { token }))).toEqual(INVALID_TOKEN);
    expect(refusal(await plain.gql(VERIFY_EMAIL, { token }))).toEqual(INVALID_TOKEN);
    expect(await count(plain, 'auth.sessions', 'user_id', s.userId)).toBe(1);

    const reset = await plain.gql(RESET, { token, password: NEW_PASSWORD });
    expect(reset.errors).toBeUndefined();
    expect(reset.data!.resetPassword.user.id).toBe(s.userId);
  });
});

describe('magic link and six-digit code', () => {
  it('mails a link and a code; the link signs in (amr otp) once, and the code of the next mail too', async () => {
    const s = await signUp(plain);
    expect((await plain.gql(OTP, { email: s.email })).data).toEqual({ signInWithOtp: true });
    const first = await nextMail(s.email);
    expect(first.subject).toBe('Your sign-in link');
    const { token, type } = linkOf(first);
    expect(type).toBe('magiclink');
    otpIn(first);

    const byLink = await plain.gql(MAGIC, { token });
    expect(byLink.errors).toBeUndefined();
    const claims = decodeJwt(byLink.data!.verifyMagicLink.accessToken);
    expect(claims.sub).toBe(s.userId);
    expect(claims.amr).toEqual([{ method: 'otp', timestamp: expect.any(Number) }]);
    expect(await whoAmI(plain, byLink.data!.verifyMagicLink.accessToken)).toBe(s.userId);
    expect(refusal(await plain.gql(MAGIC, { token }))).toEqual(INVALID_TOKEN);

    await plain.gql(OTP, { email: s.email });
    const code = otpIn(await nextMail(s.email));
    const byCode = await plain.gql(VERIFY_OTP, { email: s.email.toUpperCase(), code });
    expect(byCode.errors).toBeUndefined();
    const p = byCode.data!.verifyOtp;
    expect(p.user.id).toBe(s.userId);
    expect(decodeJwt(p.accessToken).amr).toEqual([{ method: 'otp', timestamp: expect.any(Number) }]);
    // The code works once.
    expect(codeOf(await plain.gql(VERIFY_OTP, { email: s.email, code }))).toBe('INVALID_CREDENTIALS');
  });

  it('a new mail replaces the previous one: its link and code stop working', async () => {
    const s = await signUp(plain);
    await plain.gql(OTP, { email: s.email });
    const old = await nextMail(s.email);
    await plain.gql(OTP, { email: s.email });
    const current = await nextMail(s.email);
    expect(refusal(await plain.gql(MAGIC, { token: linkOf(old).token }))).toEqual(INVALID_TOKEN);
    if (otpIn(old) !== otpIn(current)) {
      expect(codeOf(await plain.gql(VERIFY_OTP, { email: s.email, code: otpIn(old) }))).toBe('INVALID_CREDENTIALS');
    }
    expect((await plain.gql(MAGIC, { token: linkOf(current).token })).errors).toBeUndefined();
  });

  it('refuses wrong codes with INVALID_CREDENTIALS; after EMAIL_OTP_MAX_ATTEMPTS of them even the right one fails', async () => {
    const { email: mail, userId } = await confirmedUser();
    const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

    // Fewer wrong codes than the limit: the right one still works.
    await t.gql(OTP, { email: mail });
    const code = otpIn(await nextMail(mail));
    for (const bad of [wrong(code), wrong(wrong(code)), 'abcdef', '12345']) {
      expect(codeOf(await t.gql(VERIFY_OTP, { email: mail, code: bad }))).toBe('INVALID_CREDENTIALS');
    }
    const ok = await t.gql(VERIFY_OTP, { email: mail, code });
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.verifyOtp.user.id).toBe(userId);

    // Three wrong codes (EMAIL_OTP_MAX_ATTEMPTS=3): the code and its link are dead.
    await t.gql(OTP, { email: mail });
    const mailed = await nextMail(mail);
    const right = otpIn(mailed);
    let bad = right;
    for (let i = 0; i < 3; i++) {
      bad = wrong(bad);
      expect(codeOf(await t.gql(VERIFY_OTP, { email: mail, code: bad }))).toBe('INVALID_CREDENTIALS');
    }
    expect(codeOf(await t.gql(VERIFY_OTP, { email: mail, code: right }))).toBe('INVALID_CREDENTIALS');
    expect(refusal(await t.gql(MAGIC, { token: linkOf(mailed).token }))).toEqual(INVALID_TOKEN);
  });

  it("refuses user A's code with user B's email", async () => {
    const a = await signUp(plain);
    const b = await signUp(plain);
    await plain.gql(OTP, { email: a.email });
    const codeA = otpIn(await nextMail(a.email));

    // B has no code out.
    expect(codeOf(await plain.gql(VERIFY_OTP, { email: b.email, code: codeA }))).toBe('INVALID_CREDENTIALS');
    // B has one of its own.
    await plain.gql(OTP, { email: b.email });
    const codeB = otpIn(await nextMail(b.email));
    if (codeA !== codeB) {
      expect(codeOf(await plain.gql(VERIFY_OTP, { email: b.email, code: codeA }))).toBe('INVALID_CREDENTIALS');
    }

    const asA = await plain.gql(VERIFY_OTP, { email: a.email, code: codeA });
    const asB = await plain.gql(VERIFY_OTP, { email: b.email, code: codeB });
    expect(asA.data?.verifyOtp.user.id).toBe(a.userId);
    expect(asB.data?.verifyOtp.user.id).toBe(b.userId);
  });

  it('createUser false (the default): an unknown address gets true, and no mail and no user', async () => {
    for (const createUser of [false, undefined]) {
      const mail = email('otp-unknown');
      expect((await plain.gql(OTP, { email: mail, createUser })).data).toEqual({ signInWithOtp: true });
      expect(await mailsTo(mail)).toEqual([]);
      expect(await count(plain, 'auth.users', 'email', mail)).toBe(0);
    }
  });

  it('createUser true: an unknown address gets a mail, and its link signs in to a new, confirmed, passwordless account', async () => {
    const mail = email('otp-new');
    expect((await t.gql(OTP, { email: mail, createUser: true })).data).toEqual({ signInWithOtp: true });
    const mailed = await nextMail(mail);
    expect(await mailsTo(mail)).toHaveLength(1);
    // Nothing proves the address yet, so asking for mail created nothing: nobody can occupy
    // an address (and lock its owner out of register) by asking for a link to it.
    expect(await count(t, 'auth.users', 'email', mail)).toBe(0);
    expect(codeOf(await signIn(t, mail))).toBe('INVALID_CREDENTIALS');
    const owner = await t.gql(OTP, { email: mail, createUser: true });
    expect(owner.data).toEqual({ signInWithOtp: true });
    // The second request replaced the first link.
    const second = await t.gateway.mailer.idle().then(() => mailsTo(mail));
    expect(second).toHaveLength(2);
    expect(codeOf(await t.gql(MAGIC, { token: linkOf(mailed).token }))).toBe('BAD_USER_INPUT');
    const latest = second[1]!;

    const res = await t.gql(MAGIC, { token: linkOf(latest).token });
    expect(res.errors).toBeUndefined();
    const p = res.data!.verifyMagicLink;
    expect(p.user.email).toBe(mail);
    const me = (await t.gql(ME, {}, p.accessToken)).data!.me;
    expect(me).toMatchObject({ id: p.user.id, email: mail, isAnonymous: false });
    expect(me.emailConfirmedAt).not.toBeNull();

    const [user] = await t.admin`select encrypted_password, raw_app_meta_data from auth.users where id = ${p.user.id}`;
    expect(user!.encrypted_password).toBeNull();
    expect(user!.raw_app_meta_data).toMatchObject({ provider: 'email', providers: ['email'] });
    expect(await count(t, 'auth.identities', 'user_id', p.user.id)).toBe(1);
    expect(await count(t, 'public.profiles', 'id', p.user.id)).toBe(1);
  });
});

describe('email change (secure, the default)', () => {
  it('keeps the old address until the new one proves itself and the old one approves; then tells the old one', async () => {
    const u = await confirmedUser();
    const next = email('changed');
    // Just signed in (verifyEmail): a recent sign-in stands in for the current password.
    const res = await t.gql(UPDATE_USER, { input: { email: next } }, u.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateUser).toMatchObject({ email: u.email, pendingEmail: next });
    expect((await t.gql(ME, {}, u.accessToken)).data!.me.email).toBe(u.email);

    const toNew = await nextMail(next);
    expect(toNew.subject).toBe('Confirm your new email');
    const proveNew = linkOf(toNew);
    expect(proveNew.type).toBe('email_change');
    const toOld = await nextMail(u.email);
    expect(toOld.subject).toBe('Approve the change of your email');
    expect(toOld.text).toContain(next);
    const approve = linkOf(toOld);
    expect(approve.type).toBe('email_change_current');
    expect((await signIn(t, u.email)).errors).toBeUndefined();
    expect(codeOf(await signIn(t, next))).toBe('INVALID_CREDENTIALS');
    // verifyEmail takes confirmation links only, and leaves this one unspent.
    expect(refusal(await t.gql(VERIFY_EMAIL, { token: proveNew.token }))).toEqual(INVALID_TOKEN);

    const half = await t.gql(CONFIRM_CHANGE, { token: proveNew.token });
    expect(half.errors).toBeUndefined();
    expect(half.data!.confirmEmailChange).toEqual({ complete: false, email: next, awaiting: 'CURRENT' });
    expect((await t.gql(ME, {}, u.accessToken)).data!.me.email).toBe(u.email);
    expect(codeOf(await signIn(t, next))).toBe('INVALID_CREDENTIALS');

    const done = await t.gql(CONFIRM_CHANGE, { token: approve.token });
    expect(done.data!.confirmEmailChange).toEqual({ complete: true, email: next, awaiting: null });
    expect((await t.gql(ME, {}, u.accessToken)).data!.me.email).toBe(next);
    expect((await signIn(t, next)).data?.signIn.user.id).toBe(u.userId);
    expect(codeOf(await signIn(t, u.email))).toBe('INVALID_CREDENTIALS');
    const [identity] = await t.admin`select identity_data from auth.identities
                                     where user_id = ${u.userId} and provider = 'email'`;
    expect(identity!.identity_data.email).toBe(next);
    const told = await nextMail(u.email);
    expect(told.subject).toBe('Your email was changed');
    expect(linksIn(told).filter((l) => l.startsWith(LINK_URL))).toEqual([]);

    expect(refusal(await t.gql(CONFIRM_CHANGE, { token: approve.token }))).toEqual(INVALID_TOKEN);
  });

  it('takes the two links in either order', async () => {
    const u = await confirmedUser();
    const next = email('either');
    await t.gql(UPDATE_USER, { input: { email: next } }, u.accessToken);
    const proveNew = linkOf(await nextMail(next));
    const approve = linkOf(await nextMail(u.email));
    const half = await t.gql(CONFIRM_CHANGE, { token: approve.token });
    expect(half.data!.confirmEmailChange).toEqual({ complete: false, email: next, awaiting: 'NEW' });
    const done = await t.gql(CONFIRM_CHANGE, { token: proveNew.token });
    expect(done.data!.confirmEmailChange.complete).toBe(true);
    expect((await t.gql(ME, {}, u.accessToken)).data!.me.email).toBe(next);
  });

  it('ends the links and codes mailed to the old address once the change completes', async () => {
    const u = await confirmedUser();
    await t.gql(REQUEST_RESET, { email: u.email });
    const recovery = linkOf(await nextMail(u.email));
    await t.gql(OTP, { email: u.email });
    const signInMail = await nextMail(u.email);

    const next = email('moved');
    await t.gql(UPDATE_USER, { input: { email: next } }, u.accessToken);
    const proveNew = linkOf(await nextMail(next));
    const approve = linkOf(await nextMail(u.email));
    expect((await t.gql(CONFIRM_CHANGE, { token: proveNew.token })).errors).toBeUndefined();
    expect((await t.gql(CONFIRM_CHANGE, { token: approve.token })).data!.confirmEmailChange.complete).toBe(true);

    expect(refusal(await t.gql(RESET, { token: recovery.token, password: NEW_PASSWORD }))).toEqual(INVALID_TOKEN);
    expect(refusal(await t.gql(MAGIC, { token: linkOf(signInMail).token }))).toEqual(INVALID_TOKEN);
    const code = otpIn(signInMail);
    expect(codeOf(await t.gql(VERIFY_OTP, { email: next, code }))).toBe('INVALID_CREDENTIALS');
    expect((await signIn(t, next)).errors).toBeUndefined();
  });

  it('refuses an address another account holds with EMAIL_TAKEN; one proven meanwhile voids the pending change', async () => {
    const a = await confirmedUser();
    const b = await confirmedUser();
    const refused = await t.gql(UPDATE_USER, { input: { email: b.email } }, a.accessToken);
    expect(codeOf(refused)).toBe('EMAIL_TAKEN');
    expect(await mailsTo(b.email)).toHaveLength(1);

    // Free when asked, proven by its owner before the links come back.
    const next = email('race');
    await t.gql(UPDATE_USER, { input: { email: next } }, a.accessToken);
    const proveNew = linkOf(await nextMail(next));
    const approve = linkOf(await nextMail(a.email));
    expect((await t.gql(REGISTER, { input: { email: next, password: PASSWORD } })).errors).toBeUndefined();
    const owner = await t.gql(VERIFY_EMAIL, { token: linkOf(await nextMail(next)).token });
    expect(owner.errors).toBeUndefined();
    expect(refusal(await t.gql(CONFIRM_CHANGE, { token: proveNew.token }))).toEqual(INVALID_TOKEN);
    expect(refusal(await t.gql(CONFIRM_CHANGE, { token: approve.token }))).toEqual(INVALID_TOKEN);
    const me = (await t.gql('query { me { email pendingEmail } }', {}, a.accessToken)).data!.me;
    expect(me).toEqual({ email: a.email, pendingEmail: null });
  });

  it('with a stolen access token alone, the address cannot be moved and the account cannot be taken through recovery', async () => {
    // The attack on the default configuration: updateUser({ email: attacker }) with a stolen
    // token, then requestPasswordReset(attacker).
    const victim = await signUp(plain);
    const attacker = email('thief');
    // The token is an hour old: its session signed in long before the theft.
    await plain.admin`update auth.sessions set amr = jsonb_build_array(jsonb_build_object(
      'method', 'password', 'timestamp', extract(epoch from now() - interval '1 hour')::bigint))
      where user_id = ${victim.userId}`;
    const stolen = await plain.gql(UPDATE_USER, { input: { email: attacker } }, victim.accessToken);
    expect(codeOf(stolen)).toBe('FORBIDDEN');
    expect(reasonOf(stolen)).toBe('REAUTHENTICATION_REQUIRED');
    const guessed = await plain.gql(
      UPDATE_USER,
      { input: { email: attacker, currentPassword: 'not the password' } },
      victim.accessToken,
    );
    expect(codeOf(guessed)).toBe('INVALID_CREDENTIALS');
    expect((await plain.gql(ME, {}, victim.accessToken)).data!.me.email).toBe(victim.email);

    // Even a thief who knows the password only gets a pending address, and no recovery mail.
    const known = await plain.gql(
      UPDATE_USER,
      { input: { email: attacker, currentPassword: PASSWORD } },
      victim.accessToken,
    );
    expect(known.data!.updateUser).toMatchObject({ email: victim.email, pendingEmail: attacker });
    expect((await plain.gql(REQUEST_RESET, { email: attacker })).data!.requestPasswordReset).toBe(true);
    const toThief = await mailsTo(attacker);
    expect(toThief.map((m) => m.subject)).toEqual(['Confirm your new email']);
    // The owner is asked, and can refuse by doing nothing.
    expect((await nextMail(victim.email)).subject).toBe('Approve the change of your email');
    expect((await signIn(plain, victim.email)).data?.signIn.user.id).toBe(victim.userId);
  });

  it('tells the address when the password changes', async () => {
    const u = await signUp(plain);
    const res = await plain.gql(
      'mutation P($input: UpdateUserInput!) { updateUser(input: $input) { id } }',
      { input: { password: OTHER_PASSWORD, currentPassword: PASSWORD } },
      u.accessToken,
    );
    expect(res.errors).toBeUndefined();
    const told = await nextMail(u.email);
    expect(told.subject).toBe('Your password was changed');
    expect(linksIn(told).filter((l) => l.startsWith(LINK_URL))).toEqual([]);
  });
});

describe('email change with SECURE_EMAIL_CHANGE=false', () => {
  let loose: TestGateway;
  beforeAll(async () => {
    loose = await startGateway({ SMTP_URL: catcher.url, MAIL_LINK_URL: LINK_URL, SECURE_EMAIL_CHANGE: 'false' });
  });
  afterAll(async () => {
    await loose?.close();
  });

  it('changes the address once the new one proves itself, and tells the old one at both steps', async () => {
    const u = await signUp(loose);
    const next = email('loose');
    const res = await loose.gql(UPDATE_USER, { input: { email: next } }, u.accessToken);
    expect(res.data!.updateUser).toMatchObject({ email: u.email, pendingEmail: next });
    expect((await nextMail(u.email)).subject).toBe('Your email is being changed');
    const done = await loose.gql(CONFIRM_CHANGE, { token: linkOf(await nextMail(next)).token });
    expect(done.data!.confirmEmailChange).toEqual({ complete: true, email: next, awaiting: null });
    expect((await loose.gql(ME, {}, u.accessToken)).data!.me.email).toBe(next);
    expect((await nextMail(u.email)).subject).toBe('Your email was changed');
  });
});

describe('secrets', () => {
  it('no mail contains a password, and no log line contains a token, link or code from a mail', async () => {
    // One more of each flow, so this test stands on its own.
    const u = await confirmedUser();
    await t.gql(REQUEST_RESET, { email: u.email });
    const recovery = linkOf(await nextMail(u.email));
    expect((await t.gql(RESET, { token: recovery.token, password: NEW_PASSWORD })).errors).toBeUndefined();
    expect((await nextMail(u.email)).subject).toBe('Your password was changed');
    await t.gql(OTP, { email: u.email });
    const otpMail = await nextMail(u.email);
    expect((await t.gql(VERIFY_OTP, { email: u.email, code: otpIn(otpMail) })).errors).toBeUndefined();
    await Promise.all([t.gateway.mailer.idle(), plain.gateway.mailer.idle(), limited.gateway.mailer.idle()]);

    const mails = catcher.messages;
    expect(mails.length).toBeGreaterThan(20);
    for (const m of mails) {
      for (const secret of PASSWORDS) {
        expect(m.text).not.toContain(secret);
        expect(m.html).not.toContain(secret);
      }
      expect(`${m.text}${m.html}`).not.toMatch(/\$argon2/);
    }

    const text = logs.join('');
    // The requests were logged (so the check below looks at something).
    expect(text).toContain('"operation":"VerifyEmail"');
    expect(text).toContain('"operation":"VerifyOtp"');
    for (const m of mails) {
      for (const link of linksIn(m)) {
        const token = new URL(link).searchParams.get('token');
        if (token) expect(text).not.toContain(token);
        expect(text).not.toContain(link);
      }
      const code = /code: (\d{6})\b/.exec(m.text)?.[1];
      if (code) expect(text).not.toMatch(new RegExp(`"${code}"|code[^,]{0,20}${code}`));
    }
  });
});
