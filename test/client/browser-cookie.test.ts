import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { chromiumFor } from '../browser.js';
import { pageSuite, refreshesOf, startTabs } from './page-harness.js';

/**
 * @authgate/client in cookie mode (`cookie: true`) against a gateway with REFRESH_TOKEN_COOKIE=on,
 * in headless Chromium: the refresh token lives in an HttpOnly cookie that no page script can
 * read, the client never sees or stores one, and the session still survives reloads and tabs with
 * one refresh at a time. Same page and proxy as browser.test.ts; refreshes counted at the proxy
 * and in the gateway's audit log.
 */

const CHROMIUM = chromiumFor('@authgate/client in cookie mode');
const KEY = 'authgate.session';
const COOKIE = 'authgate-refresh-token';
const SETTLES = { timeout: 10_000 };

describe.skipIf(!CHROMIUM)('@authgate/client in cookie mode, in headless Chromium', () => {
  const suite = pageSuite(CHROMIUM!, { REFRESH_TOKEN_COOKIE: 'on' });
  const tabsOf = suite.tabs;
  const signInOn = suite.signInOn;

  const jarCookie = async () =>
    (await suite.context!.cookies(`${suite.server.origin}/graphql`)).find((c) => c.name === COOKIE);
  /** Everything a script on the page can read: document.cookie and both storages. */
  const readableBy = (tab: Page) =>
    tab.evaluate(() =>
      [document.cookie, JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage })].join('\n'),
    );

  it('signs in with the refresh token in an HttpOnly cookie that no page script can read', async () => {
    const [tab] = await tabsOf('?cookie', 1);
    const user = await signInOn(tab!);
    expect(user.refreshToken).toBeNull();
    const cookie = await jarCookie();
    expect(cookie).toMatchObject({ httpOnly: true, path: '/graphql', sameSite: 'Lax' });
    expect(cookie!.value.length).toBeGreaterThan(20);
    const readable = await readableBy(tab!);
    expect(readable).not.toContain(cookie!.value);
    expect(readable).not.toContain(COOKIE);
    // The stored session (shared by the tabs) holds the access token only.
    const stored = JSON.parse((await tab!.evaluate((key) => localStorage.getItem(key), KEY)) ?? '{}');
    expect(stored.refreshToken).toBeNull();
    expect(await tab!.evaluate(() => window.page.requestMe())).toEqual({
      me: { id: user.userId, email: user.email },
      error: null,
    });
  });

  it('restores the session from the cookie on a page load whose storage holds none, with one refresh', async () => {
    const [tab] = await tabsOf('?cookie', 1);
    const user = await signInOn(tab!);
    const before = (await jarCookie())!.value;
    await tab!.evaluate(() => localStorage.clear());
    const from = suite.server.sent.length;
    await tab!.reload();
    await tab!.waitForFunction(() => 'page' in window);
    await tab!.evaluate(() => window.page.auth.ready);
    expect(await tab!.evaluate(() => window.page.auth.session?.user.email)).toBe(user.email);
    expect(await tab!.evaluate(() => [...window.page.events])).toEqual(['INITIAL_SESSION']);
    expect(suite.server.sent.slice(from).filter((s) => s.operationName === 'Refresh')).toHaveLength(1);
    expect(await refreshesOf(suite.t, user.userId)).toBe(1);
    // Rotated: the jar holds the successor.
    expect((await jarCookie())!.value).not.toBe(before);
  });

  it('three tabs due at one moment: one refresh with the cookie, every tab adopts its token', async () => {
    const [first] = await tabsOf('?cookie', 1);
    const user = await signInOn(first!);
    await first!.evaluate((key) => {
      const stored = JSON.parse(localStorage.getItem(key) ?? 'null') as Record<string, unknown>;
      stored.expiresAt = new Date(Date.now() - 60_000).toISOString();
      localStorage.setItem(key, JSON.stringify(stored));
    }, KEY);
    await first!.close();
    const from = suite.server.sent.length;
    const woken = await tabsOf('?cookie&me&defer', 3);
    await startTabs(woken);
    const firstMe = await Promise.all(woken.map((tab) => tab.evaluate(() => window.page.firstMe)));
    expect(firstMe).toEqual(woken.map(() => ({ me: { id: user.userId, email: user.email }, error: null })));
    const tokens = await Promise.all(woken.map((tab) => tab.evaluate(() => window.page.auth.session?.accessToken)));
    expect(new Set(tokens).size).toBe(1);
    expect(suite.server.sent.slice(from).filter((s) => s.operationName === 'Refresh')).toHaveLength(1);
    expect(await refreshesOf(suite.t, user.userId)).toBe(1);
  });

  it('sign-out in one tab clears the cookie and signs the other tabs out', async () => {
    const [first] = await tabsOf('?cookie', 1);
    const user = await signInOn(first!);
    const spent = (await jarCookie())!.value;
    const [other] = await tabsOf('?cookie', 1);
    expect(await other!.evaluate(() => window.page.auth.session?.user.email)).toBe(user.email);
    expect(await first!.evaluate(() => window.page.auth.signOut())).toBe(true);
    expect(await jarCookie()).toBeUndefined();
    await expect.poll(() => other!.evaluate(() => window.page.auth.session), SETTLES).toBeNull();
    expect(await other!.evaluate(() => [...window.page.events])).toEqual(['INITIAL_SESSION', 'SIGNED_OUT']);
    // The cookie's token is dead on the gateway too.
    const res = await suite.t.gql('mutation($r: String!) { refresh(refreshToken: $r) { accessToken } }', { r: spent });
    expect(res.errors?.[0]?.extensions?.code).toBe('INVALID_REFRESH_TOKEN');
  });
});
