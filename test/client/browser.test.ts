import { decodeJwt } from 'jose';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { chromiumFor } from '../browser.js';
import { pageSuite, refreshesOf, startTabs } from './page-harness.js';

/**
 * @authgate/client in headless Chromium, as an app's pages run it: the package's build bundled
 * with esbuild into a page served from one origin that also proxies /graphql to a live gateway.
 * Tabs are pages of one browser context, so they share localStorage, BroadcastChannel and Web
 * Locks as a person's tabs do. Refreshes are counted where the page cannot fake them: at the
 * proxy and in the gateway's audit log.
 */

const CHROMIUM = chromiumFor('@authgate/client in a browser');
const KEY = 'authgate.session';
/** How long a tab may take to follow another (a busy machine's renderers are slow, not wrong). */
const SETTLES = { timeout: 10_000 };

describe.skipIf(!CHROMIUM)('@authgate/client in headless Chromium', () => {
  const suite = pageSuite(CHROMIUM!);
  /** A fresh profile's worth of tabs (its own localStorage and locks), with page errors collected. */
  const freshContext = async () => ({ tabs: suite.tabs, errors: suite.errors });
  const signInOn = suite.signInOn;

  /** Rewrites the stored session in `tab`'s localStorage as a test scenario needs it. */
  async function rewriteStored(tab: Page, change: { expiresInMs?: number; accessToken?: string }): Promise<void> {
    await tab.evaluate(
      ({ key, change }) => {
        const stored = JSON.parse(localStorage.getItem(key) ?? 'null') as Record<string, unknown>;
        if (change.expiresInMs !== undefined)
          stored.expiresAt = new Date(Date.now() + change.expiresInMs).toISOString();
        if (change.accessToken !== undefined) stored.accessToken = change.accessToken;
        localStorage.setItem(key, JSON.stringify(stored));
      },
      { key: KEY, change },
    );
  }

  const tokenIn = (tab: Page) => tab.evaluate(() => window.page.auth.session?.accessToken ?? null);
  const eventsIn = (tab: Page) => tab.evaluate(() => [...window.page.events]);
  const since = (from: number, name: string) => suite.server.sent.slice(from).filter((s) => s.operationName === name);

  it('keeps a session across a reload without a refresh, and `me` works after it', async () => {
    const { tabs, errors } = await freshContext();
    const [tab] = await tabs('', 1);
    const from = suite.server.sent.length;
    const user = await signInOn(tab!);
    await expect.poll(() => tab!.textContent('#who'), SETTLES).toBe(`signed in as ${user.email}`);

    await tab!.reload();
    await tab!.waitForFunction(() => 'page' in window);
    const after = await tab!.evaluate(async () => (await window.page.auth.getSession())?.accessToken);
    expect(after).toBe(user.accessToken);
    expect(await tab!.evaluate(() => window.page.requestMe())).toEqual({
      me: { id: user.userId, email: user.email },
      error: null,
    });
    expect(await eventsIn(tab!)).toEqual(['INITIAL_SESSION']);
    expect(await tab!.textContent('#who')).toBe(`signed in as ${user.email}`);
    expect(since(from, 'Refresh')).toEqual([]);
    expect(await refreshesOf(suite.t, user.userId)).toBe(0);
    expect(errors).toEqual([]);
  });

  for (const lock of ['auto', 'storage'] as const) {
    describe(`crossTabLock: '${lock}'`, () => {
      it('two tabs that wake with an expired token renew once, before their first request, and share the new token', async () => {
        const { tabs, errors } = await freshContext();
        const [first] = await tabs(`?lock=${lock}`, 1);
        if (lock === 'auto') expect(await first!.evaluate(() => window.page.webLocks)).toBe(true);
        const user = await signInOn(first!);
        // The laptop slept past the token's expiry.
        await rewriteStored(first!, { expiresInMs: -60_000 });
        await first!.close();

        const from = suite.server.sent.length;
        const woken = await tabs(`?lock=${lock}&me&defer`, 2);
        await startTabs(woken);
        const firstMe = await Promise.all(woken.map((tab) => tab.evaluate(() => window.page.firstMe)));
        expect(firstMe).toEqual(woken.map(() => ({ me: { id: user.userId, email: user.email }, error: null })));
        const tokens = await Promise.all(woken.map(tokenIn));
        expect(tokens[0]).not.toBe(user.accessToken);
        expect(new Set(tokens).size).toBe(1);
        expect(since(from, 'Refresh')).toHaveLength(1);
        expect(await refreshesOf(suite.t, user.userId)).toBe(1);
        // No request went out with the expired token: the renewal came first in both tabs.
        expect(since(from, 'PageMe').map((s) => s.authorization)).toEqual([
          `Bearer ${tokens[0]}`,
          `Bearer ${tokens[0]}`,
        ]);
        for (const tab of woken) expect((await eventsIn(tab)).filter((e) => e === 'TOKEN_REFRESHED')).toHaveLength(1);
        expect(errors).toEqual([]);
      });

      it('the cross-tab lock admits one tab at a time', async () => {
        const { tabs, errors } = await freshContext();
        const four = await tabs(`?lock=${lock}&defer`, 4);
        await startTabs(four);
        const before = { ...suite.server.holds };
        await Promise.all(four.map((tab) => tab.evaluate(() => window.page.contend(5))));
        expect(suite.server.holds.entered - before.entered).toBe(20);
        expect(suite.server.holds.most).toBe(1);
        expect(errors).toEqual([]);
      });

      it('five tabs whose token is due at the same moment: one refresh reaches the gateway and every tab adopts it', async () => {
        const { tabs, errors } = await freshContext();
        const [first] = await tabs(`?lock=${lock}`, 1);
        const user = await signInOn(first!);
        await first!.close();

        const five = await tabs(`?lock=${lock}&defer`, 5);
        // Due (the default 30 s margin before expiry) a moment after the tabs start, the same instant in each.
        await rewriteStored(five[0]!, { expiresInMs: 30_000 + 1_000 });
        const from = suite.server.sent.length;
        await startTabs(five);
        expect(since(from, 'Refresh')).toEqual([]);
        const renewedEverywhere = async () => {
          const tokens = await Promise.all(five.map(tokenIn));
          return tokens.every((token) => token === tokens[0] && token !== user.accessToken);
        };
        await expect.poll(renewedEverywhere, SETTLES).toBe(true);
        const token = await tokenIn(five[0]!);
        // Later renewals (if a tab were to try) would show here: give them a moment to.
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(since(from, 'Refresh')).toHaveLength(1);
        expect(await refreshesOf(suite.t, user.userId)).toBe(1);
        for (const tab of five) {
          expect(await tokenIn(tab)).toBe(token);
          expect((await eventsIn(tab)).filter((e) => e === 'TOKEN_REFRESHED')).toHaveLength(1);
        }
        expect(errors).toEqual([]);
      });
    });
  }

  it('a sign-out in one tab signs the other tabs out without a reload', async () => {
    const { tabs, errors } = await freshContext();
    const [first] = await tabs('', 1);
    const user = await signInOn(first!);
    const others = await tabs('', 2);
    for (const tab of others) expect(await tokenIn(tab)).toBe(user.accessToken);

    const from = suite.server.sent.length;
    expect(await first!.evaluate(() => window.page.auth.signOut())).toBe(true);
    for (const tab of others) {
      await expect.poll(() => tokenIn(tab), SETTLES).toBeNull();
      await expect.poll(() => tab.textContent('#who'), SETTLES).toBe('signed out');
      expect(await eventsIn(tab)).toEqual(['INITIAL_SESSION', 'SIGNED_OUT']);
    }
    expect(await eventsIn(first!)).toEqual(['INITIAL_SESSION', 'SIGNED_IN', 'SIGNED_OUT']);
    expect(since(from, 'SignOut')).toHaveLength(1);
    expect(since(from, 'Refresh')).toEqual([]);
    const { session_id } = decodeJwt(user.accessToken);
    expect(await suite.t.admin`select 1 from auth.sessions where id = ${String(session_id)}`).toHaveLength(0);
    expect(errors).toEqual([]);
  });

  it('a session revoked on the gateway ends in SIGNED_OUT once per tab, after one refresh attempt and no more', async () => {
    const { tabs, errors } = await freshContext();
    const [first] = await tabs('', 1);
    const user = await signInOn(first!);
    await suite.t.admin`delete from auth.sessions where user_id = ${user.userId}`;
    await rewriteStored(first!, { expiresInMs: -60_000 });
    await first!.close();

    const from = suite.server.sent.length;
    const two = await tabs('?defer', 2);
    await startTabs(two);
    for (const tab of two) await expect.poll(() => tokenIn(tab), SETTLES).toBeNull();
    // Long enough for a renewal loop (timers, retries, visibility) to show itself.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(since(from, 'Refresh')).toHaveLength(1);
    // The tabs start together, yet a slow renderer may read storage only after the other tab has
    // tried the refresh and cleared it: that tab starts signed out and has nothing to end.
    const started = await Promise.all(two.map((tab) => tab.evaluate(() => window.page.startedSignedIn)));
    expect(started).toContain(true);
    for (const [i, tab] of two.entries()) {
      expect(await eventsIn(tab)).toEqual(started[i] ? ['INITIAL_SESSION', 'SIGNED_OUT'] : ['INITIAL_SESSION']);
      expect(await tab.textContent('#who')).toBe('signed out');
    }
    // Signed out, requests go anonymously (through every recipe) and ask for no renewal.
    for (const recipe of ['requestMe', 'fetchMe', 'urqlMe', 'apolloMe'] as const) {
      expect(await two[0]!.evaluate((r) => window.page[r](), recipe)).toEqual({ me: null, error: null });
    }
    expect(since(from, 'Refresh')).toHaveLength(1);
    expect(await refreshesOf(suite.t, user.userId)).toBe(0);
    expect(errors).toEqual([]);
  });

  for (const recipe of ['fetchMe', 'urqlMe', 'apolloMe'] as const) {
    it(`${recipe.replace('Me', '')}: an authenticated query, and one renewal when the gateway refuses the token`, async () => {
      const { tabs, errors } = await freshContext();
      const [tab] = await tabs('', 1);
      const user = await signInOn(tab!);
      const me = { me: { id: user.userId, email: user.email }, error: null };
      // urql and Apollo add __typename.
      expect(await tab!.evaluate((r) => window.page[r](), recipe)).toMatchObject(me);

      // A token whose signature does not verify, as after a key rotation or a revocation.
      const refused = `${user.accessToken.slice(0, -4)}${user.accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      await rewriteStored(tab!, { accessToken: refused });
      await tab!.reload();
      await tab!.waitForFunction(() => 'page' in window);
      const from = suite.server.sent.length;
      expect(await tab!.evaluate((r) => window.page[r](), recipe)).toMatchObject(me);
      const renewed = await tokenIn(tab!);
      expect(renewed).not.toBe(user.accessToken);
      expect(suite.server.sent.slice(from).map((s) => [s.operationName, s.authorization])).toEqual([
        ['PageMe', `Bearer ${refused}`],
        ['Refresh', null],
        ['PageMe', `Bearer ${renewed}`],
      ]);
      expect(await refreshesOf(suite.t, user.userId)).toBe(1);
      expect(errors).toEqual([]);
    });
  }
});
