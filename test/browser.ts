import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { CHROMIUM_PATHS, systemPackage } from './system-packages.js';

// Debian's Chromium (never a downloaded browser) for the tests that use the gateway's pages as a
// person does: GraphiQL and the page mailed links open.

/** Chromium's path, or null (and one warning line naming `who`) when it is not installed; under CI, throws. */
export const chromiumFor = (who: string): string | null => systemPackage('chromium', CHROMIUM_PATHS, who);

export type BrowserPage = {
  page: Page;
  /** URLs the page requested outside the gateway's origin (blob: and data: URLs of that origin aside). */
  elsewhere: string[];
  /** Uncaught errors of the page's scripts. */
  pageErrors: string[];
  /** What the page's Content-Security-Policy refused (Chromium reports each on the console). */
  cspViolations: string[];
  /** Saves a screenshot under test-results/ (for a failure: never throws). */
  screenshot: (name: string) => Promise<void>;
  close: () => Promise<void>;
};

/**
 * A headless Chromium with a fresh temporary profile (deleted on close) and one page that
 * records every request leaving `origin` and every script error.
 */
export async function openPage(executablePath: string, origin: string): Promise<BrowserPage> {
  const browser: Browser = await chromium.launch({
    executablePath,
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
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(15_000);
    const elsewhere: string[] = [];
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(`${origin}/`) && !u.startsWith(`blob:${origin}/`) && !u.startsWith('data:')) elsewhere.push(u);
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text().slice(0, 200));
    });
    return {
      page,
      elsewhere,
      pageErrors,
      cspViolations,
      screenshot: (name) =>
        page
          .screenshot({ path: fileURLToPath(new URL(`../test-results/${name}.png`, import.meta.url)) })
          .then(() => undefined)
          .catch(() => {}),
      close: () => browser.close(),
    };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

/** What the link page (src/http/mail-link-page.ts) shows: its heading, status, error code and error text. */
export type LinkPageOutcome = { title: string; status: string; code: string | null; error: string };

/** Waits until the link page's heading and error, as `title\nerror`, match `settled`; then what it shows. */
export async function linkPageOutcome(page: Page, settled: RegExp): Promise<LinkPageOutcome> {
  await expect
    .poll(async () => `${await page.textContent('#title')}\n${await page.textContent('#error')}`)
    .toMatch(settled);
  return {
    title: (await page.textContent('#title')) ?? '',
    status: (await page.textContent('#status')) ?? '',
    code: await page.locator('#error').getAttribute('data-code'),
    error: (await page.textContent('#error')) ?? '',
  };
}
