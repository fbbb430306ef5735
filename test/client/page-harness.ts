import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type BrowserPage, openPage } from '../browser.js';
import { PASSWORD, signUp, startGateway, type TestGateway } from '../helpers.js';
import type { Harness } from './fixtures/page.js';

declare global {
  interface Window {
    /** What fixtures/page.ts exposes to the test. */
    page: Harness;
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT = join(ROOT, 'packages/client');

/**
 * fixtures/page.ts and everything it imports as one browser module. The package comes from this
 * tree's packages/client/dist, built first when missing or older than its sources, so the
 * browser never runs a stale build (nor another checkout's, which node_modules may point at).
 */
export function buildPageBundle(): string {
  const newest = (dir: string): number => Math.max(0, ...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
  const built = join(CLIENT, 'dist/index.js');
  if (!existsSync(built) || statSync(built).mtimeMs < newest(join(CLIENT, 'src'))) {
    execFileSync('npm', ['run', 'build', '--silent', '-w', '@authgate/client'], { cwd: ROOT, stdio: 'inherit' });
  }
  const out = buildSync({
    entryPoints: [join(ROOT, 'test/client/fixtures/page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    // Smaller to parse in each of a test's tabs; errors keep their messages.
    minify: true,
    write: false,
    logLevel: 'error',
    // React and Apollo pick their production builds by this; the page needs no dev warnings.
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error('esbuild produced no bundle');
  return file.text;
}

/** One request the page sent to /graphql, as the proxy saw it on its way to the gateway. */
export type Sent = { operationName: string | null; authorization: string | null; at: number };

export type PageServer = {
  origin: string;
  /** Every /graphql request so far, in arrival order. */
  sent: Sent[];
  /** The page's critical sections (fixtures/page.ts `contend`): how many, and the most held at once. */
  holds: { entered: number; most: number };
  /** How many requests of `operationName` reached the gateway. */
  count: (operationName: string) => number;
  close: () => Promise<void>;
};

const HTML =
  '<!doctype html><meta charset="utf-8"><title>authgate client</title><script type="module" src="/page.js"></script>';

/**
 * The test page's origin on 127.0.0.1: the page, its bundle, and /graphql proxied to the gateway,
 * as a deployment behind a reverse proxy serves an app and its gateway from one origin (one
 * localStorage, one set of Web Locks, cookies without CORS).
 */
export async function servePage(t: TestGateway, bundle: string): Promise<PageServer> {
  const upstream = new URL(t.url);
  const sent: Sent[] = [];
  const holds = { entered: 0, most: 0 };
  let holding = 0;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    if (path === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      res.end(bundle);
      return;
    }
    if (path === '/hold/enter' || path === '/hold/exit') {
      holding += path === '/hold/enter' ? 1 : -1;
      holds.entered += path === '/hold/enter' ? 1 : 0;
      holds.most = Math.max(holds.most, holding);
      res.writeHead(204);
      res.end();
      return;
    }
    if (path !== '/graphql') {
      res.writeHead(path === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(path === '/' ? HTML : 'not found');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      sent.push({
        operationName: operationOf(req.url ?? '', body),
        authorization: req.headers.authorization ?? null,
        at: Date.now(),
      });
      const headers = { ...req.headers, host: upstream.host };
      const out = request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, timeout: 10_000 },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('timeout', () => out.destroy(new Error('the gateway did not answer within 10 s')));
      out.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the page server has no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    sent,
    holds,
    count: (name) => sent.filter((s) => s.operationName === name).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The operation name of a GraphQL request: from the URL (GET, as urql sends queries) or the JSON body. */
function operationOf(url: string, body: Buffer): string | null {
  const fromUrl = new URL(url, 'http://page').searchParams.get('operationName');
  if (fromUrl) return fromUrl;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { operationName?: unknown; query?: unknown };
    if (typeof parsed.operationName === 'string') return parsed.operationName;
    // A plain fetch may send a named document without naming the operation.
    return typeof parsed.query === 'string' ? (/^\s*(?:query|mutation)\s+(\w+)/.exec(parsed.query)?.[1] ?? null) : null;
  } catch {
    return null;
  }
}

/** Refreshes the gateway served for `userId` (replays within the reuse interval included): its audit log. */
export async function refreshesOf(t: TestGateway, userId: string): Promise<number> {
  const [row] = await t.admin<{ n: number }[]>`
    select count(*)::int as n from auth.audit_log where event = 'session.refreshed' and user_id = ${userId}`;
  return row?.n ?? 0;
}

/**
 * `n` tabs of `context` on the page, each loaded and its client's stored session read; with
 * `?defer` in `url`, loaded and waiting for `startTabs`.
 */
export async function openTabs(context: BrowserContext, url: string, n: number): Promise<Page[]> {
  const tabs = await Promise.all(Array.from({ length: n }, () => context.newPage()));
  await Promise.all(tabs.map((tab) => tab.goto(url)));
  if (new URL(url).searchParams.has('defer')) {
    await Promise.all(tabs.map((tab) => tab.waitForFunction(() => 'go' in window)));
  } else {
    await startTabs(tabs);
  }
  return tabs;
}

/** Starts the clients of deferred tabs, as near one moment as the browser allows; resolves once all are ready. */
export async function startTabs(tabs: Page[]): Promise<void> {
  await Promise.all(tabs.map((tab) => tab.evaluate(() => (window as unknown as { go?: () => void }).go?.())));
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => 'page' in window)));
  await Promise.all(tabs.map((tab) => tab.evaluate(() => window.page.auth.ready)));
}

/** What a describe block of browser tests shares: its gateway, the page server, and its current browser context. */
export type PageSuite = {
  readonly t: TestGateway;
  readonly server: PageServer;
  /** The context `tabs` opened in this test (closed after each test), if any. */
  readonly context: BrowserContext | undefined;
  /** `n` tabs of the test's context (created on first use: its own localStorage, locks and cookies) at `/${query}`. */
  tabs: (query: string, n: number) => Promise<Page[]>;
  /** Uncaught errors of the current context's pages. */
  readonly errors: string[];
  /** Signs a new user in on `tab` through the page's client: their id and email, and the session. */
  signInOn: (tab: Page) => Promise<{ userId: string; email: string; accessToken: string; refreshToken: string | null }>;
};

/**
 * Registers the hooks of a describe block of browser tests: a gateway started with `env`, the
 * page served in front of it, one Chromium for the block, and a fresh browser context per test.
 */
export function pageSuite(chromium: string, env: Record<string, string> = {}): PageSuite {
  let t: TestGateway;
  let server: PageServer;
  let b: BrowserPage;
  let browser: Browser;
  let context: BrowserContext | undefined;
  let errors: string[] = [];

  beforeAll(async () => {
    const bundle = buildPageBundle();
    t = await startGateway(env);
    server = await servePage(t, bundle);
    b = await openPage(chromium, server.origin);
    browser = b.page.context().browser()!;
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await server?.close();
    await t?.close();
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    errors = [];
  });

  return {
    get t() {
      return t;
    },
    get server() {
      return server;
    },
    get context() {
      return context;
    },
    get errors() {
      return errors;
    },
    async tabs(query, n) {
      if (!context) {
        context = await browser.newContext();
        const seen = errors;
        context.on('page', (p) => p.on('pageerror', (e) => seen.push(e.message)));
      }
      return openTabs(context, `${server.origin}/${query}`, n);
    },
    async signInOn(tab) {
      const user = await signUp(t);
      const session = await tab.evaluate(({ email, password }) => window.page.auth.signIn({ email, password }), {
        email: user.email,
        password: PASSWORD,
      });
      return {
        userId: user.userId,
        email: user.email,
        accessToken: session.accessToken,
        refreshToken: session.refreshToken,
      };
    },
  };
}
