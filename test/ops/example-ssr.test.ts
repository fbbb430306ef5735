import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPageServer } from '../../examples/ssr/server.js';
import { type Answer, PASSWORD, send, signUp, startGateway, type TestGateway } from '../helpers.js';

// examples/ssr/server.ts (the recipe in docs/cookie-sessions.md) against a gateway in cookie mode
// with the cookie at Path=/: a browser's requests, made by hand, sign in through the page
// server's form, see the user on a rendered page, and sign out; the cookie the gateway sets is
// the one the browser gets.

const NAME = 'authgate-refresh-token';
let t: TestGateway;
let pages: Server;
let origin: string;

beforeAll(async () => {
  t = await startGateway({ REFRESH_TOKEN_COOKIE: 'on', REFRESH_TOKEN_COOKIE_PATH: '/' });
  pages = createPageServer({ gatewayUrl: t.url });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => pages?.close(resolve));
  await t?.close();
});

/** The refresh-token cookie an answer sets: its value and attributes as sent. */
function relayed(a: Answer): { value: string; line: string } {
  const line = [a.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith(`${NAME}=`));
  expect(line, 'the gateway’s Set-Cookie reaches the browser').toBeDefined();
  return { value: line!.split(';')[0]!.slice(NAME.length + 1), line: line! };
}

const form = (path: string, fields: Record<string, string>, cookie?: string) =>
  send(
    `${origin}${path}`,
    'POST',
    {
      'content-type': 'application/x-www-form-urlencoded',
      origin,
      ...(cookie ? { cookie: `${NAME}=${cookie}` } : {}),
    },
    new URLSearchParams(fields).toString(),
  );
const render = (cookie?: string) => send(`${origin}/`, 'GET', cookie ? { cookie: `${NAME}=${cookie}` } : {});

describe('examples/ssr: a server-rendered app reading the session on the server', () => {
  it('signs in through its form, renders the user with a fresh token per page, and signs out', async () => {
    const user = await signUp(t);
    const signedIn = await form('/sign-in', { email: user.email, password: PASSWORD });
    expect(signedIn.status).toBe(303);
    const first = relayed(signedIn);
    expect(first.line).toMatch(/; Path=\/;/);
    expect(first.line).toMatch(/; HttpOnly;/);

    const page = await render(first.value);
    expect(page.status).toBe(200);
    expect(page.text).toContain(`Signed in as ${user.email}`);
    // Each render spends the cookie's token and relays the next one.
    const second = relayed(page);
    expect(second.value).not.toBe(first.value);
    expect((await render(second.value)).text).toContain(user.email);

    const out = await form('/sign-out', {}, relayed(await render(second.value)).value);
    expect(out.status).toBe(303);
    expect(relayed(out).line).toMatch(/Max-Age=0/);
    const after = await render(second.value);
    expect(after.text).toContain('<form method="post" action="/sign-in">');
  });

  it('renders the sign-in form without a cookie, and refuses another site’s form', async () => {
    const page = await render();
    expect(page.text).toContain('action="/sign-in"');
    expect(page.headers['set-cookie']).toBeUndefined();
    const forged = await send(
      `${origin}/sign-in`,
      'POST',
      { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.test' },
      'email=a%40b.c&password=x',
    );
    expect(forged.status).toBe(403);
  });
});
