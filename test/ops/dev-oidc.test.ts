import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers.js';
import { browse, CookieJar, submit } from '../oidc-browser.js';
import { freePort } from '../ports.js';
import { childEnv, ROOT } from './npm.js';

/**
 * `npm run dev:oidc` as the walk-through in docs/identity-providers.md uses it: start it, start
 * a gateway with the environment it prints, open the start URL it prints, sign in as the demo
 * user on its login form, and exchange the code. The browser is fetch and a cookie jar.
 */

const WITHIN_MS = 60_000;
let child: ChildProcess | undefined;
let t: TestGateway | undefined;

afterAll(async () => {
  await t?.close();
  if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
});

/** Every `NAME=value` and `NAME='value'` of a printed shell line. */
function envOf(line: string): Record<string, string> {
  return Object.fromEntries([...line.matchAll(/\b([A-Z_]+)=(?:'([^']*)'|(\S+))/g)].map((m) => [m[1]!, m[2] ?? m[3]!]));
}

describe('npm run dev:oidc', () => {
  it(
    'prints what a gateway needs, signs the demo user in through it, and exits 0 on SIGTERM',
    async () => {
      const gatewayPort = await freePort();
      const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
      child = spawn('npm', ['run', 'dev:oidc'], {
        cwd: ROOT,
        env: childEnv({ PUBLIC_URL: gatewayUrl, DEV_OIDC_PORT: '0' }),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
      const deadline = Date.now() + WITHIN_MS;
      while (!out.includes('Ctrl-C stops the provider.')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`dev:oidc did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }

      const issuer = /^OpenID provider: (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out)?.[1];
      expect(issuer).toBeDefined();
      const [, login, password] = /demo login: +(\S+) \/ (\S+)$/m.exec(out)!;
      const startLine = out.split('\n').find((l) => l.trim().endsWith('npm start'))!;
      const env = envOf(startLine);
      expect(Object.keys(env)).toEqual(['PUBLIC_URL', 'OIDC_PROVIDERS']);
      expect(env.PUBLIC_URL).toBe(gatewayUrl);
      expect(JSON.parse(env.OIDC_PROVIDERS!)).toEqual([
        { name: 'dev', issuer, clientId: 'authgate-dev', clientSecret: 'authgate-dev-secret' },
      ]);
      const open = /^Then open (\S+)$/m.exec(out)![1]!;

      t = await startGateway(env, { port: gatewayPort });
      const jar = new CookieJar();
      const atGraphiql = (u: URL) => u.origin === gatewayUrl && u.pathname === '/graphql';
      const form = await browse(jar, open, atGraphiql);
      if (!('page' in form)) throw new Error(`no login page, the browser went to ${form.at}`);
      expect(form.page.origin).toBe(issuer);
      const action = /<form method="post" action="([^"]+)"/.exec(form.body)![1]!;
      // A wrong password shows the form again.
      expect((await submit(jar, new URL(action, form.page), { email: login!, password: 'wrong' })).status).toBe(401);
      const signedIn = await submit(jar, new URL(action, form.page), { email: login!, password: password! });
      expect(signedIn.status).toBe(303);
      const landing = await browse(jar, new URL(signedIn.headers.get('location')!, form.page).toString(), atGraphiql);
      if (!('at' in landing))
        throw new Error(`sign-in stopped at ${landing.page} with ${landing.status}: ${landing.body}`);
      const code = landing.at.searchParams.get('code');
      expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const exchanged = await t.gql<{ exchangeCode: { accessToken: string; user: { email: string } } }>(
        'mutation X($code: String!) { exchangeCode(code: $code) { accessToken user { email } } }',
        { code },
      );
      expect(exchanged.errors).toBeUndefined();
      expect(exchanged.data?.exchangeCode.user.email).toBe(login);
      const me = await t.gql('{ me { email } identities { provider } }', {}, exchanged.data!.exchangeCode.accessToken);
      expect(me.data).toEqual({ me: { email: login }, identities: [{ provider: 'dev' }] });

      process.kill(child.pid!, 'SIGTERM'); // npm's pid, as `kill <pid>` does
      expect(await exited).toBe(0);
      expect(out).toContain('OpenID provider: SIGTERM, stopped');
    },
    WITHIN_MS + 30_000,
  );
});
