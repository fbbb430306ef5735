import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CaughtMail, linksIn, type MailCatcher, startMailCatcher } from '../../src/mail/catcher.js';
import { freePort } from '../../src/shared/ports.js';
import { type BrowserPage, chromiumFor, type LinkPageOutcome, linkPageOutcome, openPage } from '../browser.js';
import { codeOf, email, PASSWORD, SIGN_IN, startGateway, type TestGateway } from '../helpers.js';

/**
 * The page mailed links open on a fresh set-up: MAIL_LINK_URL left at its default (the gateway's
 * own root), so the link in a caught mail is opened as it is, in Chromium, and the page completes
 * the flow against /graphql.
 */

const CHROMIUM = chromiumFor('mail-link page');
const NEW_PASSWORD = 'a fresh recovery passphrase';

const REGISTER = 'mutation Register($input: SignUpInput!) { register(input: $input) { confirmationRequired } }';
const CREATE_ORG = 'mutation C($slug: String!) { createOrganization(name: "Tab Co", slug: $slug) { id } }';
const INVITE_ORG =
  'mutation I($org: ID!, $email: String!) { inviteMember(organizationId: $org, email: $email, role: MEMBER) { id } }';
const VERIFY_EMAIL = 'mutation VerifyEmail($token: String!) { verifyEmail(token: $token) { accessToken } }';

let catcher: MailCatcher;
/** REQUIRE_EMAIL_CONFIRMATION=true; PUBLIC_URL is its own address, so mails link to it. */
let t: TestGateway;
let base: string;

beforeAll(async () => {
  catcher = await startMailCatcher();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  t = await startGateway({ SMTP_URL: catcher.url, PUBLIC_URL: base, REQUIRE_EMAIL_CONFIRMATION: 'true' }, { port });
});
afterAll(async () => {
  await t?.close();
  await catcher?.close();
});

const taken = new Set<CaughtMail>();

/** The link of the next mail to `address` (one no earlier call returned): MAIL_LINK_URL's default, the gateway's root. */
async function nextLink(address: string, type: string): Promise<string> {
  const mail = await catcher.waitFor((m) => m.to.includes(address) && !taken.has(m));
  taken.add(mail);
  const [link, ...more] = linksIn(mail);
  expect(more).toEqual([]);
  const url = new URL(link!);
  expect(`${url.origin}${url.pathname}`).toBe(`${base}/`);
  expect(url.searchParams.get('type')).toBe(type);
  return link!;
}

/** Registers `address` (confirmation required) and returns its confirmation link. */
async function register(address: string): Promise<string> {
  const res = await t.gql(REGISTER, { input: { email: address, password: PASSWORD } });
  expect(res.data?.register.confirmationRequired).toBe(true);
  return nextLink(address, 'confirmation');
}

/** Opens a mailed link and waits until the page has an outcome: its heading, status and error code. */
async function open(page: Page, link: string, settled: RegExp): Promise<LinkPageOutcome> {
  const res = await page.goto(link, { waitUntil: 'load' });
  expect(res?.status()).toBe(200);
  return linkPageOutcome(page, settled);
}

describe('the mail-link page over HTTP', () => {
  it('is served at MAIL_LINK_URL by default, static and under a CSP that runs only its own script', async () => {
    const res = await fetch(`${base}/?token=x&type=magiclink`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
    expect(csp).toMatch(/(^|; )script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).toMatch(/(^|; )connect-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )form-action 'none'(;|$)/);
    expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
    expect(csp).not.toMatch(/unsafe/);
    const html = await res.text();
    // The same bytes for every link: the token is read in the browser, never written into the page.
    expect(html).not.toContain('magiclink&');
    expect(await (await fetch(`${base}/`)).text()).toBe(html);
    expect((await fetch(`${base}/`, { method: 'HEAD' })).status).toBe(200);
    const post = await fetch(`${base}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('is not served when MAIL_LINK_URL points at an app, which handles its links', async () => {
    const app = await startGateway({ MAIL_LINK_URL: 'http://app.example.test/' });
    try {
      const res = await fetch(app.url.replace(/\/graphql$/, '/'));
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    } finally {
      await app.close();
    }
  });
});

describe.skipIf(!CHROMIUM)('the mail-link page in headless Chromium', () => {
  let b: BrowserPage;
  beforeAll(async () => {
    b = await openPage(CHROMIUM!, base);
  }, 30_000);
  afterAll(async () => {
    await b?.close();
  });

  it('confirms an address on load, drops the token from the address bar, and hands the session to GraphiQL', async () => {
    const address = email('linkconfirm');
    const link = await register(address);
    const shown = await open(b.page, link, /Email confirmed/);
    expect(shown.status).toBe(`Signed in as ${address}. The address is confirmed.`);
    expect(b.page.url()).toBe(`${base}/`);
    const [user] =
      await t.admin`select email, pending_email, email_confirmed_at from auth.users where email = ${address}`;
    expect(user?.pending_email).toBeNull();
    expect(user?.email_confirmed_at).toBeInstanceOf(Date);

    await b.page.getByRole('link', { name: `Open GraphiQL, signed in as ${address}` }).click();
    await expect
      .poll(() => b.page.getByRole('status', { name: 'authgate session' }).textContent(), { timeout: 20_000 })
      .toContain(`Signed in as ${address}`);
    expect(b.pageErrors).toEqual([]);
    expect(b.cspViolations).toEqual([]);
    expect(b.elsewhere).toEqual([]);
  }, 60_000);

  it('signs in with a magic link on load, and shows INVALID_TOKEN for the same link opened again', async () => {
    const address = email('linkmagic');
    expect((await t.gql(`mutation { signInWithOtp(email: "${address}", createUser: true) }`)).errors).toBeUndefined();
    const link = await nextLink(address, 'magiclink');
    const shown = await open(b.page, link, /Signed in/);
    expect(shown.status).toBe(`Signed in as ${address}.`);
    const [user] = await t.admin`select id from auth.users where email = ${address}`;
    const sessions = await t.admin`select id from auth.sessions where user_id = ${user!.id}`;
    expect(sessions).toHaveLength(1);

    const again = await open(b.page, link, /INVALID_TOKEN/);
    expect(again.code).toBe('INVALID_TOKEN');
    expect(await b.page.textContent('#error')).toBe(
      'INVALID_TOKEN (BAD_USER_INPUT): The link was used already, has expired, or a newer mail replaced it. Ask for a new mail with signInWithOtp(email).',
    );
    expect(await t.admin`select id from auth.sessions where user_id = ${user!.id}`).toHaveLength(1);
  }, 60_000);

  it('shows INVALID_TOKEN for an expired confirmation link and leaves the address pending', async () => {
    const address = email('linkexpired');
    const link = await register(address);
    await t.admin`update auth.one_time_tokens set expires_at = now() - interval '1 second' where email = ${address}`;
    const shown = await open(b.page, link, /INVALID_TOKEN/);
    expect(shown.code).toBe('INVALID_TOKEN');
    expect(shown.title).toBe('Confirming your email');
    const [user] =
      await t.admin`select pending_email, email_confirmed_at from auth.users where pending_email = ${address}`;
    expect(user?.email_confirmed_at).toBeNull();
  }, 60_000);

  it('confirms an email change from both mails: the first says whose link is awaited, the second completes it', async () => {
    const address = email('linkchange');
    const confirm = new URL(await register(address)).searchParams.get('token');
    const session = await t.gql(VERIFY_EMAIL, { token: confirm });
    const accessToken = session.data?.verifyEmail.accessToken as string;
    const next = email('linkchanged');
    const change = await t.gql(
      'mutation Change($input: UpdateUserInput!) { updateUser(input: $input) { pendingEmail } }',
      { input: { email: next, currentPassword: PASSWORD } },
      accessToken,
    );
    expect(change.data?.updateUser.pendingEmail).toBe(next);
    const toNew = await nextLink(next, 'email_change');
    const toCurrent = await nextLink(address, 'email_change_current');

    const first = await open(b.page, toNew, /Link confirmed/);
    expect(first.status).toBe(
      `Confirmed. The change to ${next} completes once the current address approves it with the link mailed to it.`,
    );
    const second = await open(b.page, toCurrent, /Email changed/);
    expect(second.status).toBe(`The address of the account is now ${next}.`);
    const [user] = await t.admin`select email, pending_email from auth.users where email = ${next}`;
    expect(user?.pending_email).toBeNull();
    expect(b.pageErrors).toEqual([]);
  }, 60_000);

  it('accepts an invitation with the session this tab keeps, and asks to sign in without one', async () => {
    const ownerLink = await register(email('orgowner'));
    const owner = (await t.gql(VERIFY_EMAIL, { token: new URL(ownerLink).searchParams.get('token') })).data!
      .verifyEmail;
    const org = (await t.gql(CREATE_ORG, { slug: `tab-${Date.now().toString(36)}` }, owner.accessToken)).data!
      .createOrganization.id;
    const address = email('linkinvited');
    // Signed in in this tab by the confirmation link (the address is proven).
    await open(b.page, await register(address), /Email confirmed/);
    expect((await t.gql(INVITE_ORG, { org, email: address }, owner.accessToken)).errors).toBeUndefined();
    const invitation = await nextLink(address, 'invitation');
    const shown = await open(b.page, invitation, /Invitation accepted/);
    expect(shown.status).toBe('You are now a member of Tab Co.');
    expect(b.page.url()).toBe(`${base}/`);

    // A fresh tab holds no session: nothing is accepted, and the page says what to do.
    const other = await openPage(CHROMIUM!, base);
    try {
      const stranger = email('linkstranger');
      expect((await t.gql(INVITE_ORG, { org, email: stranger }, owner.accessToken)).errors).toBeUndefined();
      const refused = await open(other.page, await nextLink(stranger, 'invitation'), /UNAUTHENTICATED/);
      expect(refused.code).toBe('UNAUTHENTICATED');
      expect(other.pageErrors).toEqual([]);
      expect(other.cspViolations).toEqual([]);
    } finally {
      await other.close();
    }
    expect(b.pageErrors).toEqual([]);
    expect(b.cspViolations).toEqual([]);
  }, 60_000);

  it('sets a new password from a recovery link only through its form; signIn then takes it', async () => {
    const address = email('linkrecovery');
    const confirm = new URL(await register(address)).searchParams.get('token');
    expect((await t.gql(VERIFY_EMAIL, { token: confirm })).errors).toBeUndefined();
    expect((await t.gql(`mutation { requestPasswordReset(email: "${address}") }`)).errors).toBeUndefined();
    const link = await nextLink(address, 'recovery');

    await b.page.goto(link, { waitUntil: 'load' });
    await b.page.locator('#recovery').waitFor();
    expect(await b.page.textContent('#title')).toBe('Choose a new password');
    // Opening the link spent nothing: the token is still there until the form is sent.
    const live = await t.admin`select 1 from auth.one_time_tokens where email = ${address} and kind = 'recovery'`;
    expect(live).toHaveLength(1);

    // A weak password is refused and the form stays for another try.
    await b.page.fill('#password', 'short');
    await b.page.getByRole('button', { name: 'Set the new password' }).click();
    expect((await linkPageOutcome(b.page, /WEAK_PASSWORD/)).code).toBe('WEAK_PASSWORD');
    expect(await b.page.locator('#recovery').isVisible()).toBe(true);

    await b.page.fill('#password', NEW_PASSWORD);
    await b.page.getByRole('button', { name: 'Set the new password' }).click();
    const done = await linkPageOutcome(b.page, /Password changed/);
    expect(done.status).toBe(`Signed in as ${address}. Every other session was signed out.`);
    expect(await b.page.locator('#recovery').isVisible()).toBe(false);

    const signedIn = await t.gql(SIGN_IN, { input: { email: address, password: NEW_PASSWORD } });
    expect(signedIn.data?.signIn.user.email).toBe(address);
    expect(codeOf(await t.gql(SIGN_IN, { input: { email: address, password: PASSWORD } }))).toBe('INVALID_CREDENTIALS');
    expect(b.pageErrors).toEqual([]);
    expect(b.cspViolations).toEqual([]);
  }, 60_000);
});
