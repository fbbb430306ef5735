import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { EXAMPLE_DOCUMENT } from '../../src/graphiql-example.js';
import { type BrowserPage, chromiumFor, openPage } from '../browser.js';
import { email, PASSWORD, signUp, startGateway, type TestGateway } from '../helpers.js';

// GraphiQL as a person uses it: Debian's Chromium (never a downloaded browser) opens /graphql,
// signs up and runs `me`, with the token the page carries or one pasted into the Headers pane;
// the tests read what the page shows.
const CHROMIUM = chromiumFor('graphiql');

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
  await page.keyboard.press('Delete');
  await expect.poll(async () => (await shownLines(page, section)).join('').trim(), { timeout: 10_000 }).toBe('');
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

/**
 * Clicks Execute and waits until the answer to `operationName` is what the result pane shows:
 * the Authorization the request carried (as the browser sent it) and that answer.
 */
async function execute(page: Page, operationName: string): Promise<{ authorization: string | undefined; body: any }> {
  const answered = page.waitForResponse((r) => {
    try {
      return r.request().method() === 'POST' && r.request().postDataJSON()?.operationName === operationName;
    } catch {
      return false;
    }
  });
  await page.getByRole('button', { name: /^Execute query/ }).click();
  const response = await answered;
  const body = await response.json();
  await expect
    .poll(
      async () => {
        try {
          return JSON.parse(compact(await shownLines(page, RESULT_WINDOW)));
        } catch {
          return null;
        }
      },
      { timeout: 10_000 },
    )
    .toEqual(body);
  return { authorization: (await response.request().allHeaders()).authorization, body };
}

/** Sets the Headers pane; GraphiQL reads it on the next run (after its 100 ms debounce). */
async function setHeaders(page: Page, json: string): Promise<void> {
  await replaceEditorText(page, HEADERS_EDITOR, json);
  await page.waitForTimeout(300);
}

/**
 * Runs `fn` with a fresh gateway and a browser page; the page must load nothing from elsewhere
 * and throw no error. A failure leaves test-results/<name>-failure.png.
 */
async function inBrowser(name: string, fn: (t: TestGateway, b: BrowserPage) => Promise<void>): Promise<void> {
  const t = await startGateway();
  let b: BrowserPage | undefined;
  try {
    b = await openPage(CHROMIUM!, new URL(t.url).origin);
    await fn(t, b);
    expect(b.elsewhere, 'GraphiQL is bundled: the page loads nothing from elsewhere').toEqual([]);
    expect(b.pageErrors).toEqual([]);
  } catch (e) {
    await b?.screenshot(`${name}-failure`);
    throw e;
  } finally {
    await b?.close();
    await t.close();
  }
}

describe.skipIf(!CHROMIUM)('GraphiQL in headless Chromium', () => {
  test(
    'signs up, sends the token from the Headers pane and shows me',
    () =>
      inBrowser('graphiql', async (t, b) => {
        const { page } = b;
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
        await b.screenshot('graphiql');
      }),
    60_000,
  );

  test(
    'carries the session: SignUp then me without touching headers; the Headers pane wins; signOut ends it',
    () =>
      inBrowser('graphiql-session', async (t, b) => {
        const other = await signUp(t);
        const { page } = b;
        await page.goto(t.url, { waitUntil: 'load' });
        await page.locator(`${OPERATION_EDITOR} .view-line`).first().waitFor();
        const status = page.getByRole('status', { name: 'authgate session' });
        await expect.poll(() => status.textContent()).toMatch(/^Not signed in/);

        const mail = email('carried');
        await typeOperation(
          page,
          'CarriedSignUp',
          `mutation CarriedSignUp { signUp(input: { email: "${mail}", password: "${PASSWORD}" }) { accessToken user { id email } } }`,
        );
        const signedUp = await execute(page, 'CarriedSignUp');
        expect(signedUp.authorization).toBeUndefined();
        const { accessToken, user } = signedUp.body.data.signUp;
        await expect.poll(() => status.textContent()).toContain(`Signed in as ${mail}`);

        // No header typed anywhere: the page sends the token signUp answered with.
        await typeOperation(page, 'Me', 'query Me { me { id email } }');
        const me = await execute(page, 'Me');
        expect(me.authorization).toBe(`Bearer ${accessToken}`);
        expect(me.body).toEqual({ data: { me: { id: user.id, email: mail } } });

        // An Authorization in the Headers pane is sent as it is.
        await page.getByRole('button', { name: 'Headers', exact: true }).click();
        await setHeaders(page, `{"Authorization": "Bearer ${other.accessToken}"}`);
        const asOther = await execute(page, 'Me');
        expect(asOther.authorization).toBe(`Bearer ${other.accessToken}`);
        expect(asOther.body.data.me.id).toBe(other.userId);
        await setHeaders(page, '{"X-Trace": "none"}');

        // signOut ends the carried session, on the gateway and on the page.
        await typeOperation(page, 'Out', 'mutation Out { signOut }');
        const out = await execute(page, 'Out');
        expect(out.authorization).toBe(`Bearer ${accessToken}`);
        expect(out.body).toEqual({ data: { signOut: true } });
        await expect.poll(() => status.textContent()).toMatch(/^Not signed in \(signed out\)/);
        const [ended] = await t.admin`select count(*)::int as n from auth.sessions where user_id = ${user.id}`;
        expect(ended?.n).toBe(0);

        await typeOperation(page, 'MeAgain', 'query MeAgain { me { id email } }');
        const anon = await execute(page, 'MeAgain');
        expect(anon.authorization).toBeUndefined();
        expect(anon.body).toEqual({ data: { me: null } });
      }),
    90_000,
  );
});
