import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { codeOf, email, PASSWORD, SIGN_IN, SIGN_UP, startGateway, type TestGateway } from '../helpers.js';

// CAPTCHA on the flows bots target, against a local verifier that speaks the providers'
// documented siteverify protocol (a form POST of secret, response and remoteip, answered with
// JSON { success, "error-codes" }): no outside network is reachable, and none is needed.

const SECRET = 'test-captcha-secret-0123456789';
type Call = { path: string; secret: string | null; response: string | null; remoteip: string | null };

/** The provider: "pass-*" tokens succeed once (a reused one fails, as the real ones do), "slow" never answers in time, "garbage" is not JSON, "oops" is a 500. */
function startVerifier(): Promise<{ server: Server; url: string; calls: Call[] }> {
  const calls: Call[] = [];
  const used = new Set<string>();
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const call = {
        path: req.url ?? '',
        secret: form.get('secret'),
        response: form.get('response'),
        remoteip: form.get('remoteip'),
      };
      calls.push(call);
      const answer = (status: number, text: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(text);
      };
      if (call.response === 'slow') return void setTimeout(() => answer(200, '{"success":true}'), 2000);
      if (call.response === 'garbage') return answer(200, '<html>not json</html>');
      if (call.response === 'oops') return answer(500, '{}');
      if (call.response === 'no-success') return answer(200, '{"hostname":"x"}');
      const ok = call.secret === SECRET && call.response?.startsWith('pass-') === true && !used.has(call.response);
      if (ok) used.add(call.response!);
      answer(
        200,
        JSON.stringify(ok ? { success: true } : { success: false, 'error-codes': ['invalid-input-response'] }),
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}`, calls });
    }),
  );
}

let verifier: Awaited<ReturnType<typeof startVerifier>>;
let gw: TestGateway;
let hcaptcha: TestGateway;
const logs: string[] = [];
let seq = 0;
const pass = () => `pass-${Date.now()}-${seq++}`;

beforeAll(async () => {
  verifier = await startVerifier();
  [gw, hcaptcha] = await Promise.all([
    startGateway(
      {
        CAPTCHA_PROVIDER: 'turnstile',
        CAPTCHA_SECRET: SECRET,
        CAPTCHA_VERIFY_URL: `${verifier.url}/turnstile/v0/siteverify`,
        CAPTCHA_TIMEOUT_MS: '500',
        LOG_LEVEL: 'info',
        ANONYMOUS_SIGN_IN: 'true',
        RATE_LIMIT_SIGNUP_IP_MAX: '0',
        RATE_LIMIT_TOKEN_IP_MAX: '0',
      },
      { logs },
    ),
    startGateway({
      CAPTCHA_PROVIDER: 'hcaptcha',
      CAPTCHA_SECRET: SECRET,
      CAPTCHA_VERIFY_URL: `${verifier.url}/hcaptcha/siteverify`,
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([gw?.close(), hcaptcha?.close()]);
  await new Promise((r) => verifier?.server.close(r));
});

const reasonOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) =>
  res.errors?.[0]?.extensions?.reason;
const users = async (t: TestGateway) => Number((await t.admin`select count(*)::int as n from auth.users`)[0]!.n);
const limitRows = async (t: TestGateway) =>
  Number((await t.admin`select count(*)::int as n from auth.rate_limits`)[0]!.n);

const SIGN_UP_CAPTCHA = /* GraphQL */ `
  mutation SignUp($input: SignUpInput!, $captchaToken: String) {
    signUp(input: $input, captchaToken: $captchaToken) { accessToken user { id } }
  }`;
const SIGN_IN_CAPTCHA = /* GraphQL */ `
  mutation SignIn($input: SignInInput!, $captchaToken: String) {
    signIn(input: $input, captchaToken: $captchaToken) { accessToken }
  }`;

describe('with CAPTCHA_PROVIDER=turnstile', () => {
  it('refuses a sign-up without a token before any work: no user, no rate-limit row, no call out', async () => {
    const [u0, l0, c0] = [await users(gw), await limitRows(gw), verifier.calls.length];
    const res = await gw.gql(SIGN_UP, { input: { email: email('cap'), password: PASSWORD } });
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(reasonOf(res)).toBe('CAPTCHA_FAILED');
    expect(res.errors?.[0]?.message).toMatch(/captchaToken/);
    expect([await users(gw), await limitRows(gw), verifier.calls.length]).toEqual([u0, l0, c0]);
  });

  it('refuses a token the provider refuses, and changes nothing', async () => {
    const [u0, l0] = [await users(gw), await limitRows(gw)];
    const res = await signUpWith(gw, 'a-bot-guess', 'cap');
    expect(codeOf(res)).toBe('FORBIDDEN');
    expect(reasonOf(res)).toBe('CAPTCHA_FAILED');
    expect([await users(gw), await limitRows(gw)]).toEqual([u0, l0]);
  });

  it('signs up with a solved CAPTCHA, sending the secret, the token and the client address', async () => {
    const token = pass();
    const res = await signUpWith(gw, token, 'cap');
    expect(res.errors).toBeUndefined();
    const call = verifier.calls.at(-1)!;
    expect(call).toEqual({ path: '/turnstile/v0/siteverify', secret: SECRET, response: token, remoteip: '127.0.0.1' });
  });

  it('refuses a token used once already (the provider says so)', async () => {
    const token = pass();
    const first = await signUpWith(gw, token, 'cap');
    expect(first.errors).toBeUndefined();
    const again = await signUpWith(gw, token, 'cap');
    expect(reasonOf(again)).toBe('CAPTCHA_FAILED');
  });

  it('guards signIn before the rate limiter and the password hash', async () => {
    const mail = email('cap');
    const up = await gw.gql(SIGN_UP_CAPTCHA, { input: { email: mail, password: PASSWORD }, captchaToken: pass() });
    expect(up.errors).toBeUndefined();
    const l0 = await limitRows(gw);
    const refused = await gw.gql(SIGN_IN, { input: { email: mail, password: PASSWORD } });
    expect(reasonOf(refused)).toBe('CAPTCHA_FAILED');
    expect(await limitRows(gw)).toBe(l0);
    const ok = await gw.gql(SIGN_IN_CAPTCHA, { input: { email: mail, password: PASSWORD }, captchaToken: pass() });
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.signIn.accessToken).toEqual(expect.any(String));
  });

  it('guards every flow bots target, and only those', async () => {
    const mail = email('cap');
    const guarded: Array<[string, string, Record<string, unknown>]> = [
      [
        'register',
        'mutation R($c: String) { register(input: { email: "{m}", password: "{p}" }, captchaToken: $c) { user { id } } }',
        {},
      ],
      ['signInAnonymously', 'mutation A($c: String) { signInAnonymously(captchaToken: $c) { accessToken } }', {}],
      ['requestPasswordReset', 'mutation P($c: String) { requestPasswordReset(email: "{m}", captchaToken: $c) }', {}],
      ['signInWithOtp', 'mutation O($c: String) { signInWithOtp(email: "{m}", captchaToken: $c) }', {}],
      ['resendConfirmation', 'mutation C($c: String) { resendConfirmation(email: "{m}", captchaToken: $c) }', {}],
    ];
    for (const [name, text] of guarded) {
      const query = text.replaceAll('{m}', mail).replaceAll('{p}', PASSWORD);
      const without = await gw.gql(query, {});
      expect(reasonOf(without), `${name} without a token`).toBe('CAPTCHA_FAILED');
      const withToken = await gw.gql(query, { c: pass() });
      expect(reasonOf(withToken), `${name} with a solved CAPTCHA`).not.toBe('CAPTCHA_FAILED');
      expect(withToken.errors, `${name} with a solved CAPTCHA`).toBeUndefined();
    }
    // A signed-in user's own requests need no CAPTCHA.
    const session = await signUpWithCaptcha(gw);
    const me = await gw.gql('{ me { id } }', {}, session);
    expect(me.errors).toBeUndefined();
  });

  it('fails closed when the provider is slow, broken or answers nonsense, and says so in the log', async () => {
    for (const token of ['slow', 'garbage', 'oops', 'no-success']) {
      const u0 = await users(gw);
      const res = await signUpWith(gw, token, 'cap');
      expect(codeOf(res), token).toBe('SERVICE_UNAVAILABLE');
      expect(reasonOf(res), token).toBe('CAPTCHA_UNAVAILABLE');
      expect(await users(gw)).toBe(u0);
    }
    const lines = logs.filter((l) => l.includes('CAPTCHA verification unavailable'));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.some((l) => l.includes('within 500 ms'))).toBe(true);
    // Neither the secret nor any token reaches the log.
    const all = logs.join('\n');
    expect(all).not.toContain(SECRET);
    expect(all).not.toMatch(/pass-\d/);
  });
});

describe('with CAPTCHA_PROVIDER=hcaptcha', () => {
  it('verifies against the configured siteverify the same way', async () => {
    const token = pass();
    const res = await signUpWith(hcaptcha, token, 'hcap');
    expect(res.errors).toBeUndefined();
    expect(verifier.calls.at(-1)).toMatchObject({ path: '/hcaptcha/siteverify', response: token });
  });

  it('fails closed when the verifier cannot be reached at all', async () => {
    const down = await startGateway({
      CAPTCHA_PROVIDER: 'hcaptcha',
      CAPTCHA_SECRET: SECRET,
      // A port nothing listens on: the connection is refused.
      CAPTCHA_VERIFY_URL: 'http://127.0.0.1:9/siteverify',
    });
    try {
      const res = await signUpWith(down, pass(), 'hcap');
      expect(reasonOf(res)).toBe('CAPTCHA_UNAVAILABLE');
    } finally {
      await down.close();
    }
  });
});

describe('configuration', () => {
  it('needs the secret beside the provider, and https to anywhere but this machine', () => {
    expect(() => loadConfig({ CAPTCHA_PROVIDER: 'turnstile' })).toThrow(ConfigError);
    expect(() => loadConfig({ CAPTCHA_SECRET: 'x' })).toThrow(ConfigError);
    expect(() =>
      loadConfig({ CAPTCHA_PROVIDER: 'turnstile', CAPTCHA_SECRET: 'x', CAPTCHA_VERIFY_URL: 'http://verify.example/x' }),
    ).toThrow(/https/);
    expect(loadConfig({ CAPTCHA_PROVIDER: 'hcaptcha', CAPTCHA_SECRET: 'x' }).captcha?.verifyUrl).toBe(
      'https://api.hcaptcha.com/siteverify',
    );
    expect(loadConfig({}).captcha).toBeNull();
  });
});

/** A sign-up of a new address with `captchaToken`. */
const signUpWith = (t: TestGateway, captchaToken: string, tag: string) =>
  t.gql(SIGN_UP_CAPTCHA, { input: { email: email(tag), password: PASSWORD }, captchaToken });

/** A user signed up through the CAPTCHA; their access token. */
async function signUpWithCaptcha(t: TestGateway): Promise<string> {
  const res = await signUpWith(t, pass(), 'cap');
  expect(res.errors).toBeUndefined();
  return res.data?.signUp.accessToken as string;
}
