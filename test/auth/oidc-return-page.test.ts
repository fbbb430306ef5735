import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ProviderAccount, type ProviderHarness, startProvider } from '../../dev/oidc-provider.js';
import { type BrowserPage, chromiumFor, linkPageOutcome, openPage } from '../browser.js';
import { email, startGateway, type TestGateway } from '../helpers.js';
import { browse, CookieJar, startUrl } from '../oidc-browser.js';
import { freePort } from '../ports.js';

/**
 * A provider sign-in on a fresh set-up: OIDC_REDIRECT_URLS left at its default (the gateway's
 * own root), where the link page (src/http/mail-link-page.ts) exchanges the returned code. The
 * provider is the suite's real one (test/oidc-provider.ts); Chromium goes through it itself, or
 * opens the URL a sign-in played over HTTP came back to.
 */

const CHROMIUM = chromiumFor('OIDC return page');

const LINK = /* GraphQL */ `
  mutation Link($provider: String!) { linkIdentity(provider: $provider) { url } }`;

let t: TestGateway;
let h: ProviderHarness;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  h = await startProvider({ redirectUris: [`${base}/auth/local/callback`] });
  const entry = { name: 'local', issuer: h.issuer, clientId: h.clientId, clientSecret: h.clientSecret };
  t = await startGateway({ PUBLIC_URL: base, OIDC_PROVIDERS: JSON.stringify([entry]) }, { port });
});
afterAll(async () => {
  await t?.close();
  await h?.close();
});
afterEach(() => {
  expect(h.serverErrors).toEqual([]);
});

/** A new person at the provider. */
function account(tag: string): ProviderAccount {
  const a: ProviderAccount = {
    sub: `${tag}-${randomBytes(6).toString('hex')}`,
    email: email(tag),
    email_verified: true,
  };
  h.accounts.set(a.sub, a);
  return a;
}

/** A sign-in played over HTTP from `start` (default: no redirect_to) to the gateway's root: the URL it lands on. */
async function landing(who: string | null, start = startUrl(t, 'local', null)): Promise<URL> {
  h.nextAccount = who;
  const end = await browse(new CookieJar(), start, (u) => u.origin === base && u.pathname === '/');
  if (!('at' in end)) throw new Error(`sign-in stopped at ${end.page.pathname} with ${end.status}: ${end.body}`);
  return end.at;
}

const codesLeft = async (code: string): Promise<number> => {
  const hash = createHash('sha256').update(code).digest('hex');
  const rows = await t.admin`select 1 from auth.auth_codes where code_hash = ${hash}`;
  return rows.length;
};

const sessionsOf = async (address: string): Promise<Array<Record<string, unknown>>> =>
  t.admin`select s.id, s.amr from auth.sessions s join auth.users u on u.id = s.user_id where u.email = ${address}`;

describe('a provider sign-in returning to the gateway root, over HTTP', () => {
  it('lands on the page with a one-time code that a plain GET of the page does not spend', async () => {
    const a = account('oidcscan');
    const at = await landing(a.sub);
    expect([...at.searchParams.keys()]).toEqual(['code']);
    const code = at.searchParams.get('code')!;
    const res = await fetch(at);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).not.toContain(code);
    expect(await codesLeft(code)).toBe(1);
  });
});

describe.skipIf(!CHROMIUM)('the OIDC return on the link page in headless Chromium', () => {
  let b: BrowserPage;
  beforeAll(async () => {
    b = await openPage(CHROMIUM!, base);
  }, 30_000);
  afterAll(async () => {
    await b?.close();
  });
  /** Chromium at `url` with `who` signing in at the provider, which must not remember the last one. */
  async function throughProvider(url: string, who: string | null): Promise<void> {
    await b.page.context().clearCookies();
    h.nextAccount = who;
    const res = await b.page.goto(url, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
  }
  /** Signs `who` in through the provider in the tab: the access token the tab then keeps for GraphiQL. */
  async function signedInTab(who: string): Promise<string> {
    await throughProvider(`${base}/auth/local/start`, who);
    expect((await linkPageOutcome(b.page, /Signed in|\n.+/)).title).toBe('Signed in');
    return JSON.parse((await b.page.evaluate(() => sessionStorage.getItem('authgate.session')))!).accessToken;
  }
  afterEach(() => {
    expect(b.pageErrors).toEqual([]);
    expect(b.cspViolations).toEqual([]);
    // The provider's pages are the only other origin the browser went to.
    expect(b.elsewhere.filter((u) => !u.startsWith(`${h.issuer}/`))).toEqual([]);
  });

  it('signs in through the provider, exchanges the code on return, drops it from the address bar and hands the session to GraphiQL', async () => {
    const a = account('oidcpage');
    await throughProvider(`${base}/auth/local/start`, a.sub);
    const shown = await linkPageOutcome(b.page, /Signed in|\n.+/);
    expect(shown).toMatchObject({ title: 'Signed in', status: `Signed in as ${a.email}.`, code: null });
    expect(b.page.url()).toBe(`${base}/`);
    // The provider was really asked, and the code was spent for one session of the new user.
    expect(b.elsewhere.some((u) => u.startsWith(`${h.issuer}/`))).toBe(true);
    const sessions = await sessionsOf(a.email!);
    expect(sessions).toHaveLength(1);
    expect((sessions[0]!.amr as Array<{ method: string }>).map((m) => m.method)).toEqual(['oauth']);
    expect(await t.admin`select 1 from auth.auth_codes where provider_id = ${a.sub}`).toHaveLength(0);
    // Only the access token is kept for GraphiQL, never the refresh token.
    const kept = await b.page.evaluate(() => sessionStorage.getItem('authgate.session'));
    expect(Object.keys(JSON.parse(kept!)).sort()).toEqual(['accessToken', 'expiresAt', 'who']);

    await b.page.getByRole('link', { name: `Open GraphiQL, signed in as ${a.email}` }).click();
    await expect
      .poll(() => b.page.getByRole('status', { name: 'authgate session' }).textContent(), { timeout: 20_000 })
      .toContain(`Signed in as ${a.email}`);
  }, 60_000);

  it("finishes a linkIdentity in the tab whose GraphiQL session started it, with that session's token", async () => {
    const first = account('oidcowner');
    const kept = await signedInTab(first.sub);
    const linked = await t.gql(LINK, { provider: 'local' }, kept);
    expect(linked.errors).toBeUndefined();

    const second = account('oidclinked');
    await throughProvider(linked.data!.linkIdentity.url, second.sub);
    const shown = await linkPageOutcome(b.page, /Signed in|\n.+/);
    expect(shown).toMatchObject({ title: 'Signed in', status: `Signed in as ${first.email}.`, code: null });
    const ids = await t.admin`select i.provider_id from auth.identities i join auth.users u on u.id = i.user_id
      where u.email = ${first.email!} and i.provider = 'local' order by i.provider_id`;
    expect(ids.map((r) => r.provider_id).sort()).toEqual([first.sub, second.sub].sort());
  }, 60_000);

  it('signs in past a kept session that has ended: the refused token is forgotten and the code exchanged without it', async () => {
    const first = account('oidcended');
    const kept = await signedInTab(first.sub);
    expect((await t.gql('mutation { signOut }', {}, kept)).errors).toBeUndefined();

    const next = account('oidcafter');
    await throughProvider(`${base}/auth/local/start`, next.sub);
    const shown = await linkPageOutcome(b.page, /Signed in|\n.+/);
    expect(shown).toMatchObject({ title: 'Signed in', status: `Signed in as ${next.email}.`, code: null });
    expect(await sessionsOf(next.email!)).toHaveLength(1);
  }, 60_000);

  it('shows INVALID_CODE when the same return is opened again, and makes no second session', async () => {
    const a = account('oidcreuse');
    const at = await landing(a.sub);
    await b.page.goto(at.toString(), { waitUntil: 'load' });
    expect((await linkPageOutcome(b.page, /Signed in|\n.+/)).title).toBe('Signed in');
    await b.page.goto(at.toString(), { waitUntil: 'load' });
    const again = await linkPageOutcome(b.page, /INVALID_CODE/);
    expect(again.code).toBe('INVALID_CODE');
    expect(again.error).toMatch(/^INVALID_CODE \(BAD_USER_INPUT\): The sign-in code was used already or has expired/);
    expect(await sessionsOf(a.email!)).toHaveLength(1);
  }, 60_000);

  it("cannot finish a start that had a code_challenge: the verifier is the app's, and the page says so", async () => {
    const a = account('oidcpkce');
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    const at = await landing(a.sub, startUrl(t, 'local', null, challenge));
    await b.page.goto(at.toString(), { waitUntil: 'load' });
    const shown = await linkPageOutcome(b.page, /INVALID_CODE/);
    expect(shown.error).toContain('whose verifier only the app that started it holds');
    expect(await t.admin`select 1 from auth.users where email = ${a.email!}`).toHaveLength(0);
  }, 60_000);

  it("shows the provider's refusal (access_denied) and what to do, and signs no one in", async () => {
    const before = await t.admin`select count(*)::int as n from auth.sessions`;
    await throughProvider(`${base}/auth/local/start`, null);
    const shown = await linkPageOutcome(b.page, /access_denied/);
    expect(shown).toEqual({
      title: 'Not signed in',
      status: 'The provider sign-in did not complete.',
      code: 'access_denied',
      error: 'access_denied: The sign-in was refused or cancelled at the provider. Start it again to sign in.',
    });
    expect(b.page.url()).toBe(`${base}/`);
    expect(await t.admin`select count(*)::int as n from auth.sessions`).toEqual(before);
  }, 60_000);
});
