import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserPage, chromiumFor, openPage } from '../browser.js';
import { email, PASSWORD, signUp, startGateway, type TestGateway } from '../helpers.js';

// Cookie mode in Debian's Chromium: a frontend on an origin CORS_ORIGINS lists (same site as the
// gateway: 127.0.0.1, another port) signs in and refreshes with credentials: 'include'; a page on
// another site (localhost is not 127.0.0.1's site) tries the classic cross-site requests and
// refreshes nothing; the cookie is out of reach of the gateway origin's own scripts.
const CHROMIUM = chromiumFor('cookie-mode');
const NAME = 'authgate-refresh-token';
const SIGN_IN = 'mutation SignIn($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken } }';
const REFRESH = 'mutation { refresh(refreshToken: "") { accessToken refreshToken } }';

let t: TestGateway;
let pages: Server;
let port: number;
let b: BrowserPage | undefined;

beforeAll(async () => {
  // One blank page server: http://127.0.0.1:<port> is the listed frontend, http://localhost:<port> another site.
  pages = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>page</title><p>page</p>');
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  port = (pages.address() as AddressInfo).port;
  t = await startGateway({ REFRESH_TOKEN_COOKIE: 'on', CORS_ORIGINS: `http://127.0.0.1:${port}` });
});
afterAll(async () => {
  await b?.close();
  await t?.close();
  await new Promise((resolve) => pages?.close(resolve));
});

/** The refresh-token cookie the browser holds for the gateway, or undefined. */
async function held(context: BrowserContext) {
  return (await context.cookies(t.url)).find((c) => c.name === NAME);
}

/** The user's refresh tokens as the database has them: how many, and how many spent. */
async function tokensOf(userId: string): Promise<{ n: number; spent: number }> {
  const [row] = await t.admin<{ n: number; spent: number }[]>`
    select count(*)::int as n, count(spent_at)::int as spent from auth.refresh_tokens where user_id = ${userId}`;
  return row!;
}

/** A POST of `body` to the gateway from `page`'s scripts, with `init`; what the page could read, or the error it got. */
function fetchFrom(page: Page, init: { body: string; contentType: string; mode?: 'cors' | 'no-cors' }) {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const res = await fetch(url, {
          method: 'POST',
          credentials: 'include',
          mode: init.mode ?? 'cors',
          headers: { 'content-type': init.contentType },
          body: init.body,
        });
        return { status: res.status, type: res.type, text: await res.text() };
      } catch (e) {
        return { error: String(e) };
      }
    },
    { url: t.url, init },
  );
}

describe.skipIf(!CHROMIUM)('cookie mode in headless Chromium', () => {
  it('signs in and refreshes from a listed origin, hides the cookie from scripts and refuses cross-site requests', async () => {
    const user = await signUp(t, undefined, email('browser'));
    b = await openPage(CHROMIUM!, `http://127.0.0.1:${port}`);
    const { page } = b;
    const context = page.context();
    try {
      // The listed frontend: credentialed CORS, the cookie stored, the body without the token.
      await page.goto(`http://127.0.0.1:${port}/`);
      const signedIn = await fetchFrom(page, {
        contentType: 'application/json',
        body: JSON.stringify({ query: SIGN_IN, variables: { input: { email: user.email, password: PASSWORD } } }),
      });
      expect(signedIn).toMatchObject({ status: 200 });
      expect(JSON.parse((signedIn as { text: string }).text).data.signIn.refreshToken).toBe('');
      const first = await held(context);
      expect(first).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/graphql', secure: false });

      const refreshed = await fetchFrom(page, {
        contentType: 'application/json',
        body: JSON.stringify({ query: REFRESH }),
      });
      const answer = JSON.parse((refreshed as { text: string }).text);
      expect(answer.data.refresh).toMatchObject({ refreshToken: '' });
      expect(answer.data.refresh.accessToken).toMatch(/^ey/);
      const cookie = await held(context);
      expect(cookie?.value).not.toBe(first?.value);

      // The gateway's own origin: its scripts (GraphiQL's page here) cannot read the cookie.
      await page.goto(t.url, { waitUntil: 'domcontentloaded' });
      expect(await page.evaluate(() => document.cookie)).not.toContain(NAME);

      // Another site. Each attempt below must leave the user's refresh tokens as they are.
      const before = await tokensOf(user.userId);
      expect(before.spent).toBe(1);
      await page.goto(`http://localhost:${port}/`);

      // (a) A form, the one cross-site POST a page can send with no script at all.
      const formAnswer = page.waitForResponse((r) => r.url() === t.url && r.request().method() === 'POST');
      await page.evaluate(
        ({ url, query }) => {
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = url;
          form.enctype = 'text/plain';
          const input = document.createElement('input');
          // text/plain posts name=value: the body reads as JSON ending in a throwaway field.
          input.name = `{"query":${JSON.stringify(query)},"x":"`;
          input.value = '"}';
          form.append(input);
          document.body.append(form);
          form.submit();
        },
        { url: t.url, query: REFRESH },
      );
      expect((await formAnswer).status()).toBe(415);
      await page.waitForURL(t.url);
      expect(await tokensOf(user.userId)).toEqual(before);

      // (b) fetch with credentials: the preflight names an origin the gateway does not list,
      // so the browser never sends the request and the page reads nothing.
      await page.goto(`http://localhost:${port}/`);
      const cors = await fetchFrom(page, { contentType: 'application/json', body: JSON.stringify({ query: REFRESH }) });
      expect(cors).toMatchObject({ error: expect.stringMatching(/TypeError|Failed to fetch/) });
      // (c) And a simple no-cors request, sent without a preflight: opaque to the page, and refused.
      const simple = await fetchFrom(page, {
        contentType: 'text/plain',
        mode: 'no-cors',
        body: JSON.stringify({ query: REFRESH }),
      });
      expect(simple).toMatchObject({ type: 'opaque', status: 0, text: '' });
      expect(await tokensOf(user.userId)).toEqual(before);
      expect((await held(context))?.value).toBe(cookie?.value);
    } catch (e) {
      await b.screenshot('cookie-mode-browser');
      throw e;
    }
  }, 90_000);
});
