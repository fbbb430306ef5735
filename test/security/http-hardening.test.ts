import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import {
  type Answer,
  codeOf,
  email,
  PASSWORD,
  SIGN_UP,
  send,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';
import { CHROMIUM_PATHS, systemPackage } from '../system-packages.js';

const CHROMIUM = systemPackage('chromium', CHROMIUM_PATHS, 'http-hardening');

// Attacks on the HTTP layer, each through a real gateway on a real port: cross-origin reads
// (CORS), crafted cursors, public metrics, missing security headers, forged X-Forwarded-For,
// and 4xx answers without the JSON error shape.

const CONTRACT_CODES = ['BAD_USER_INPUT', 'UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED'];

/** Bytes straight onto a socket, for requests no HTTP client would send; the server closes after. */
function sendRaw(url: string, bytes: string): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let raw = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (c) => {
      raw += c.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', text = ''] = raw.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text });
    });
    socket.end(bytes);
  });
}

/** The answer is a JSON error of one contract code; returns that code. */
function expectJsonError(a: Answer): string {
  expect(String(a.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(a.text) as { errors: Array<{ message: string; extensions: { code: string } }> };
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0]!.message.length).toBeGreaterThan(0);
  expect(CONTRACT_CODES).toContain(body.errors[0]!.extensions.code);
  return body.errors[0]!.extensions.code;
}

const preflight = (t: TestGateway, origin: string) =>
  fetch(t.url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, authorization',
    },
  });
const crossOriginPost = (t: TestGateway, origin: string) =>
  fetch(t.url, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  });

/** No CORS header that would let a browser on `origin` read or send anything. */
async function expectNoCorsFor(t: TestGateway, origin: string): Promise<void> {
  for (const res of [await preflight(t, origin), await crossOriginPost(t, origin)]) {
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('access-control-allow-methods')).toBeNull();
  }
}

const base = (t: TestGateway): string => t.url.replace(/\/graphql$/, '');

describe('production without CORS_ORIGINS or METRICS_TOKEN', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ NODE_ENV: 'production' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('gives a preflight and a cross-origin POST from another origin no CORS headers', async () => {
    await expectNoCorsFor(t, 'https://evil.example');
  });

  it('does not serve /metrics, and says how to turn it on', async () => {
    const res = await send(`${base(t)}/metrics`, 'GET', {});
    expect(res.status).toBe(404);
    expect(res.text).not.toMatch(/process_cpu|authgate_/);
    expectJsonError(res);
    expect(res.text).toContain('METRICS_TOKEN');
  });
});

describe('production with a blank CORS_ORIGINS', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ NODE_ENV: 'production', CORS_ORIGINS: '' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('allows no origin at all', async () => {
    await expectNoCorsFor(t, 'https://evil.example');
  });
});

describe('production with CORS_ORIGINS, METRICS_TOKEN and HSTS_MAX_AGE_S', () => {
  const metricsToken = randomBytes(24).toString('hex');
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({
      NODE_ENV: 'production',
      CORS_ORIGINS: 'https://app.example, https://admin.example',
      METRICS_TOKEN: metricsToken,
      HSTS_MAX_AGE_S: '31536000',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers a listed origin, without credentials, and varies by Origin', async () => {
    const pre = await preflight(t, 'https://app.example');
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    const post = await crossOriginPost(t, 'https://admin.example');
    expect(post.headers.get('access-control-allow-origin')).toBe('https://admin.example');
    expect(post.headers.get('vary')).toMatch(/\bOrigin\b/i);
    expect(await post.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('gives an unlisted origin no CORS headers', async () => {
    await expectNoCorsFor(t, 'https://evil.example');
    // A listed origin's look-alikes are other origins.
    await expectNoCorsFor(t, 'https://app.example.evil.example');
    await expectNoCorsFor(t, 'http://app.example');
    await expectNoCorsFor(t, 'null');
  });

  it('serves /metrics only with Authorization: Bearer <METRICS_TOKEN>', async () => {
    const url = `${base(t)}/metrics`;
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${metricsToken}x`, `Basic ${metricsToken}`]) {
      const res = await send(url, 'GET', authorization ? { authorization } : {});
      expect(res.status).toBe(401);
      expect(expectJsonError(res)).toBe('UNAUTHENTICATED');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.text).not.toContain(metricsToken);
      expect(res.text).not.toMatch(/process_cpu|authgate_/);
    }
    const ok = await send(url, 'GET', { authorization: `Bearer ${metricsToken}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toMatch(/process_cpu_user_seconds_total/);
  });

  it('sends Strict-Transport-Security as configured', async () => {
    for (const res of [await fetch(`${base(t)}/healthz`), await fetch(t.url, { method: 'OPTIONS' })]) {
      expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000');
    }
  });
});

describe('the development defaults, with TRUST_PROXY=true', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ TRUST_PROXY: 'true' });
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('CORS', () => {
    it('echoes any origin, as the README says, but never allows credentials', async () => {
      const res = await preflight(t, 'https://anything.example');
      expect(res.headers.get('access-control-allow-origin')).toBe('https://anything.example');
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    });
  });

  describe('crafted cursors', () => {
    const SIBLINGS = /* GraphQL */ `
      query ($after: String) {
        me { id }
        bad: profiles(first: 2, after: $after) { edges { cursor } }
        good: profiles(first: 1) { edges { cursor node { id } } }
      }`;
    const cursorOf = (createdAt: string): string =>
      Buffer.from(JSON.stringify([createdAt, randomUUID()])).toString('base64url');

    it.each([
      ['month 13', '2024-13-01 00:00:00+00'],
      ['29 February of a common year', '2023-02-29 12:00:00+00'],
      ['year 0', '0000-01-01 00:00:00+00'],
      ['hour 25', '2024-01-01 25:00:00+00'],
      ['an offset of 16 hours', '2024-01-01 00:00:00+16'],
      ['an offset of 99 hours', '2024-01-01 00:00:00.5+99:00'],
    ])('refuses a cursor whose timestamp has %s with BAD_USER_INPUT, failing no other field', async (_why, ts) => {
      const s = await signUp(t);
      const res = await t.gql(SIBLINGS, { after: cursorOf(ts) }, s.accessToken);
      // profiles is non-null (the contract), so GraphQL nulls `data` when it fails; what must
      // not happen is a database error that aborts the transaction under the other fields.
      expect(res.errors).toHaveLength(1);
      expect(res.errors![0]!.path).toEqual(['bad']);
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(res)).not.toContain('INTERNAL_SERVER_ERROR');
      // The same fields without the crafted cursor answer, and a genuine cursor pages.
      const fine = await t.gql(SIBLINGS, {}, s.accessToken);
      expect(fine.errors).toBeUndefined();
      expect(fine.data?.me?.id).toBe(s.userId);
      expect(fine.data?.good.edges).toHaveLength(1);
      const next = await t.gql(SIBLINGS, { after: fine.data?.good.edges[0].cursor }, s.accessToken);
      expect(next.errors).toBeUndefined();
      expect(next.data?.me?.id).toBe(s.userId);
    });

    it('refuses the same crafted cursor on the admin users(after:) with BAD_USER_INPUT', async () => {
      const service = await t.gateway.tokens.signServiceRole(600);
      for (const ts of ['2024-13-01 00:00:00+00', '2023-02-29 12:00:00+00', '2024-01-01 00:00:00+16']) {
        const res = await t.gql(
          'query ($after: String) { users(after: $after) { edges { cursor } } }',
          {
            after: cursorOf(ts),
          },
          service,
        );
        expect(res.errors).toHaveLength(1);
        expect(codeOf(res)).toBe('BAD_USER_INPUT');
      }
      const first = await t.gql('{ users(first: 1) { edges { cursor } } }', {}, service);
      const after = first.data?.users.edges[0]?.cursor;
      const page = await t.gql(
        'query ($after: String) { users(after: $after) { edges { cursor } } }',
        { after },
        service,
      );
      expect(page.errors).toBeUndefined();
    });
  });

  describe('metrics outside production without METRICS_TOKEN', () => {
    it('stays open for a local scrape', async () => {
      const res = await send(`${base(t)}/metrics`, 'GET', {});
      expect(res.status).toBe(200);
      expect(res.text).toMatch(/process_cpu_user_seconds_total/);
    });
  });

  describe('security headers', () => {
    it('sends nosniff, no-referrer and a deny-all CSP on every kind of response', async () => {
      const answers = [
        await send(`${base(t)}/healthz`, 'GET', {}),
        await send(`${base(t)}/.well-known/jwks.json`, 'GET', {}),
        await send(`${base(t)}/nope`, 'GET', {}),
        await send(t.url, 'POST', { 'content-type': 'application/json' }, '{"query":"{ __typename }"}'),
        await send(t.url, 'POST', { 'content-type': 'text/plain' }, '{"query":"{ __typename }"}'),
      ];
      for (const a of answers) {
        expect(a.headers['x-content-type-options']).toBe('nosniff');
        expect(a.headers['referrer-policy']).toBe('no-referrer');
        expect(a.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
        expect(a.headers['strict-transport-security']).toBeUndefined();
      }
    });

    it('serves GraphiQL unframeable, under a CSP that runs only its own bundled script', async () => {
      const res = await send(t.url, 'GET', { accept: 'text/html' });
      expect(res.status).toBe(200);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
      expect(csp).toMatch(/(^|; )default-src 'none'(;|$)/);
      expect(csp).toMatch(/(^|; )script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
      expect(csp).not.toMatch(/unsafe-eval/);
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    });

    it.skipIf(!CHROMIUM)(
      'lets the bundled GraphiQL run in Chromium without one CSP violation',
      async () => {
        const browser = await chromium.launch({
          executablePath: CHROMIUM!,
          timeout: 20_000,
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
        });
        try {
          const page = await browser.newPage();
          page.setDefaultTimeout(15_000);
          const refused: string[] = [];
          page.on('console', (m) => {
            if (/Content Security Policy/i.test(m.text())) refused.push(m.text().slice(0, 200));
          });
          await page.addInitScript(() => {
            const seen: string[] = [];
            (window as unknown as { cspViolations: string[] }).cspViolations = seen;
            document.addEventListener('securitypolicyviolation', (e) =>
              seen.push(`${e.violatedDirective} ${e.blockedURI}`),
            );
          });
          await page.goto(t.url, { waitUntil: 'load' });
          const editor = 'section[aria-label="Operation Editor"]';
          await page.locator(`${editor} .view-line`).first().waitFor();
          // An unknown field gets a squiggle only once the graphql worker (a blob: URL) has read the
          // schema over fetch: the worker and connect-src work too.
          await page.locator(`${editor} .monaco-editor`).click();
          await page.keyboard.press('ControlOrMeta+A');
          await page.keyboard.insertText('query Probe { me { id notAField } }');
          await page.locator(`${editor} .squiggly-error`).first().waitFor();
          const violations = await page.evaluate(
            () => (window as unknown as { cspViolations: string[] }).cspViolations,
          );
          expect(violations).toEqual([]);
          expect(refused).toEqual([]);
        } finally {
          await browser.close();
        }
      },
      60_000,
    );
  });

  describe('X-Forwarded-For', () => {
    /** Signs up with `forwarded` as X-Forwarded-For; returns the address its session was stored with. */
    async function sessionIpFor(forwarded: string): Promise<string | null> {
      const res = await t.gql(SIGN_UP, { input: { email: email('xff'), password: PASSWORD } }, undefined, {
        'x-forwarded-for': forwarded,
      });
      expect(res.errors).toBeUndefined();
      const sessions = await t.gql('{ sessions { ip current } }', {}, res.data?.signUp.accessToken);
      expect(sessions.errors).toBeUndefined();
      return sessions.data?.sessions.find((s: { current: boolean }) => s.current).ip;
    }

    it('never stores client text as the address: a <script> falls back to the socket address', async () => {
      expect(await sessionIpFor('<script>alert(1)</script>')).toBe('127.0.0.1');
      // What the proxy appended is last; anything else is the client's and is ignored.
      expect(await sessionIpFor('198.51.100.3, <script>alert(1)</script>')).toBe('127.0.0.1');
      expect(await sessionIpFor('unknown')).toBe('127.0.0.1');
      expect(await sessionIpFor('fe80::1%<script>')).toBe('fe80::1');
      const stored = await t.admin`select ip from auth.sessions where ip !~ '^[0-9a-f.:]+$'`;
      expect(stored).toEqual([]);
    });

    it('still takes a valid forwarded address, unwrapping a port or brackets', async () => {
      expect(await sessionIpFor('203.0.113.7')).toBe('203.0.113.7');
      expect(await sessionIpFor('<script>alert(1)</script>, 198.51.100.2')).toBe('198.51.100.2');
      expect(await sessionIpFor('203.0.113.8:5123')).toBe('203.0.113.8');
      expect(await sessionIpFor('[2001:DB8::7]:443')).toBe('2001:db8::7');
    });
  });

  describe('HTTP errors', () => {
    const query = JSON.stringify({ query: '{ __typename }' });
    const json = { 'content-type': 'application/json' };

    it.each([
      ['an unknown path', 404, () => send(`${base(t)}/nope`, 'GET', {})],
      ['a POST to an unknown path', 404, () => send(`${base(t)}/wp-login.php`, 'POST', json, query)],
      ['a page nobody serves', 404, () => send(`${base(t)}/index.html`, 'GET', { accept: 'text/html' })],
      ['PUT /graphql', 405, () => send(t.url, 'PUT', json, query)],
      ['DELETE /graphql', 405, () => send(t.url, 'DELETE', {})],
      ['POST /healthz', 405, () => send(`${base(t)}/healthz`, 'POST', json, query)],
      ['a text/plain POST', 415, () => send(t.url, 'POST', { 'content-type': 'text/plain' }, query)],
      ['a form POST', 415, () => send(t.url, 'POST', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--')],
      [
        'a POST without Content-Length',
        411,
        () => send(t.url, 'POST', { ...json, 'transfer-encoding': 'chunked' }, query),
      ],
      [
        'a POST over MAX_BODY_BYTES',
        413,
        () => send(t.url, 'POST', json, JSON.stringify({ query: `{ __typename } # ${'x'.repeat(200_000)}` })),
      ],
      ['Accept: application/xml', 406, () => send(t.url, 'POST', { ...json, accept: 'application/xml' }, query)],
      [
        'headers over the 128 KiB limit',
        431,
        () => sendRaw(t.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(140 * 1024)}\r\n\r\n`),
      ],
      ['a malformed request line', 400, () => sendRaw(t.url, 'GARBAGE\r\n\r\n')],
    ])('answers %s with %i and a JSON error of a contract code', async (_why, status, call) => {
      const res = await call();
      expect(res.status).toBe(status);
      expect(expectJsonError(res)).toBe('BAD_USER_INPUT');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });

    it.each(['APPLICATION/JSON', 'Application/Json; Charset=UTF-8', 'application/json ; charset=utf-8'])(
      'reads Content-Type %s as JSON',
      async (type) => {
        const res = await send(t.url, 'POST', { 'content-type': type }, query);
        expect(res.status).toBe(200);
        expect(JSON.parse(res.text)).toEqual({ data: { __typename: 'Query' } });
      },
    );
  });
});

describe('CORS_ORIGINS parsing', () => {
  it('reads a blank value as no origin, even in development, and unset as any origin outside production', () => {
    expect(loadConfig({ CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: ' ' }).corsOrigins).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'production', CORS_ORIGINS: '' }).corsOrigins).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'production' }).corsOrigins).toEqual([]);
    expect(loadConfig({}).corsOrigins).toBeNull();
    expect(loadConfig({ NODE_ENV: 'production', CORS_ORIGINS: '*' }).corsOrigins).toBeNull();
    expect(loadConfig({ CORS_ORIGINS: 'https://App.example/, http://localhost:5173' }).corsOrigins).toEqual([
      'https://app.example',
      'http://localhost:5173',
    ]);
  });

  it.each(['https://app.example/path', 'app.example', 'null', 'ftp://app.example'])(
    'refuses CORS_ORIGINS=%s at start-up',
    (value) => {
      expect(() => loadConfig({ CORS_ORIGINS: value })).toThrow(ConfigError);
    },
  );

  it('refuses a short METRICS_TOKEN without echoing it', () => {
    const token = 'short-secret-value';
    let message = '';
    try {
      loadConfig({ METRICS_TOKEN: token });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain('METRICS_TOKEN');
    expect(message).not.toContain(token);
  });
});
