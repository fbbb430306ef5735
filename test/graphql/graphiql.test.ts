import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { EXAMPLE_DOCUMENT } from '../../src/graphiql-example.js';
import { email, PASSWORD, startGateway } from '../helpers.js';
import { CHROMIUM_PATHS, systemPackage } from '../system-packages.js';

// GraphiQL as a person uses it: Debian's Chromium (never a downloaded browser) opens /graphql,
// signs up, pastes the token into the Headers pane and runs `me`; the test reads what the page shows.
const CHROMIUM = systemPackage('chromium', CHROMIUM_PATHS, 'graphiql');
const SCREENSHOT = fileURLToPath(new URL('../../test-results/graphiql.png', import.meta.url));
const FAILURE_SCREENSHOT = fileURLToPath(new URL('../../test-results/graphiql-failure.png', import.meta.url));

// GraphiQL 5 renders every pane with Monaco; the sections carry stable aria-labels.
const OPERATION_EDITOR = 'section[aria-label="Operation Editor"]';
const HEADERS_EDITOR = 'section[aria-label="Headers"]';
const RESULT_WINDOW = 'section[aria-label="Result Window"]';

/** The lines a Monaco editor inside `section` shows, top to bottom (Monaco reuses line nodes out of order). */
const shownLines = (page: Page, section: string): Promise<string[]> =>
  page.evaluate((sel) => {
    const lines = [...document.querySelectorAll(`${sel} .view-line`)];
    return lines
      .filter((l) => (l as HTMLElement).offsetParent !== null)
      .map((l) => ({ top: Number.parseFloat((l as HTMLElement).style.top), text: l.textContent ?? '' }))
      .sort((a, b) => a.top - b.top)
      .map((l) => l.text.replace(/\u00a0/g, ' '));
  }, section);

/**
 * The result pane wraps long lines (a JWT) and indents each wrapped piece, so whitespace in what it
 * shows is not the response's. Tokens, ids and emails have none: drop it all and parse.
 */
const compact = (lines: string[]): string => lines.join('').replace(/\s+/g, '');

/** Waits until the result pane shows a response with `data[field]` or errors, and returns it. */
async function shownResult(page: Page, field: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = await shownLines(page, RESULT_WINDOW);
    try {
      const body = JSON.parse(compact(last));
      if (body?.data?.[field] !== undefined || body?.errors) return body;
    } catch {}
    await page.waitForTimeout(100);
  }
  throw new Error(`GraphiQL showed no "${field}" result within 20 s; the result pane shows:\n${last.join('\n')}`);
}

/** Replaces an editor's content the way a person does: click into it, select all, type. */
async function replaceEditorText(page: Page, section: string, text: string): Promise<void> {
  await page.locator(`${section} .monaco-editor`).filter({ visible: true }).click();
  await page.keyboard.press('ControlOrMeta+A');
  // One insertText is one input event, so Monaco inserts it verbatim; key-by-key typing would get
  // auto-closed brackets and quotes. Single-line text also avoids auto-indent.
  await page.keyboard.insertText(text);
  await page.keyboard.press('Home'); // scrolls a long line back to its start, for the screenshot
  await expect.poll(async () => (await shownLines(page, section)).join('\n').trim(), { timeout: 10_000 }).toBe(text);
}

/**
 * Types a one-operation document. GraphiQL sends the document it parsed from the editor 100 ms after
 * the last change (a click before that sends the previous one); the active tab takes the operation's
 * name at that moment, so a fresh name in the tab means the new document is the one that runs.
 */
async function typeOperation(page: Page, name: string, document: string): Promise<void> {
  await replaceEditorText(page, OPERATION_EDITOR, document);
  await page.getByRole('tab', { name, exact: true, selected: true }).waitFor();
}

describe.skipIf(!CHROMIUM)('GraphiQL in headless Chromium', () => {
  test('signs up, sends the token from the Headers pane and shows me', async () => {
    const t = await startGateway();
    let browser: Browser | undefined;
    let page: Page | undefined;
    try {
      // launch() gives the browser a fresh temporary user data dir and deletes it on close.
      browser = await chromium.launch({
        executablePath: CHROMIUM!,
        timeout: 20_000,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      page.setDefaultTimeout(15_000);
      const origin = new URL(t.url).origin;
      const elsewhere: string[] = [];
      page.on('request', (r) => {
        const u = r.url();
        if (!u.startsWith(`${origin}/`) && !u.startsWith(`blob:${origin}/`) && !u.startsWith('data:'))
          elsewhere.push(u);
      });
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));

      const res = await page.goto(t.url, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-type']).toMatch(/^text\/html/);
      expect(await page.title()).toBe('authgate');

      // It opens with the example document.
      await page.locator(`${OPERATION_EDITOR} .view-line`).first().waitFor();
      const initial = await shownLines(page, OPERATION_EDITOR);
      expect(initial.join('\n')).toContain('mutation SignUp {');
      expect(initial.length).toBeGreaterThan(4);
      expect(initial).toEqual(EXAMPLE_DOCUMENT.split('\n').slice(0, initial.length));

      // Sign up through the UI.
      const execute = page.getByRole('button', { name: /^Execute query/ });
      const mail = email('graphiql');
      await typeOperation(
        page,
        'BrowserSignUp',
        `mutation BrowserSignUp { signUp(input: { email: "${mail}", password: "${PASSWORD}" }) { accessToken user { id email } } }`,
      );
      await execute.click();
      const signedUp = await shownResult(page, 'signUp');
      expect(signedUp.errors).toBeUndefined();
      const { accessToken, user } = signedUp.data.signUp;
      expect(accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(user.email).toBe(mail);
      const [row] = await t.admin`select id from auth.users where email = ${mail}`;
      expect(user.id).toBe(row?.id);

      // The token goes into the Headers pane, and `me` runs with it.
      await page.getByRole('button', { name: 'Headers', exact: true }).click();
      await replaceEditorText(page, HEADERS_EDITOR, `{"Authorization": "Bearer ${accessToken}"}`);
      await typeOperation(page, 'Me', 'query Me { me { id email } }');
      const sent = page.waitForRequest((r) => r.method() === 'POST' && /\bme\s*\{/.test(r.postData() ?? ''));
      await execute.click();
      expect((await sent).headers().authorization).toBe(`Bearer ${accessToken}`);
      const me = await shownResult(page, 'me');
      expect(me).toEqual({ data: { me: { id: user.id, email: mail } } });

      await page.mouse.move(1300, 800); // no hover widget over the result in the picture
      await page.screenshot({ path: SCREENSHOT });
      expect(elsewhere, 'GraphiQL is bundled: the page loads nothing from elsewhere').toEqual([]);
      expect(pageErrors).toEqual([]);
    } catch (e) {
      await page?.screenshot({ path: FAILURE_SCREENSHOT }).catch(() => {});
      throw e;
    } finally {
      await browser?.close();
      await t.close();
    }
  }, 60_000);
});
