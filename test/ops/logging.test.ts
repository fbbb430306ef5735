import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { prettyLine } from '../../src/log.js';
import { email, ME, REFRESH, SIGN_IN, SIGN_UP, startGateway, type TestGateway } from '../helpers.js';

describe('logs', () => {
  let t: TestGateway;
  const logs: string[] = [];
  beforeAll(async () => {
    t = await startGateway({ LOG_LEVEL: 'debug' }, { logs });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('log one JSON line per request with request id, operation, user, duration and outcome, and no secret', async () => {
    const mail = email('logged');
    const password = 'a very secret passphrase 42';
    const up = await t.gql(
      SIGN_UP,
      { input: { email: mail, password, data: { username: 'logged_user' } } },
      undefined,
      {
        'x-request-id': 'req-signup-1',
      },
    );
    const p = up.data!.signUp;
    await t.gql(SIGN_IN, { input: { email: mail, password: 'a wrong passphrase' } });
    const inn = (await t.gql(SIGN_IN, { input: { email: mail, password } })).data!.signIn;
    const re = (await t.gql(REFRESH, { token: inn.refreshToken })).data!.refresh;
    await t.gql(ME, {}, re.accessToken);
    await t.gql(
      'mutation Change($i: UpdateUserInput!) { updateUser(input: $i) { id } }',
      { i: { password: 'another secret passphrase', currentPassword: password } },
      re.accessToken,
    );
    await t.gql(ME, {}, `${p.accessToken}x`);
    // A failure inside the database path, so error logging runs too.
    await t.admin`revoke execute on function auth.visible_users(uuid[]) from authenticated`;
    try {
      await t.gql(ME, {}, re.accessToken);
    } finally {
      await t.admin`grant execute on function auth.visible_users(uuid[]) to authenticated`;
    }
    await new Promise((r) => setTimeout(r, 100));

    const text = logs.join('');
    const [row] = await t.admin`select encrypted_password from auth.users where email = ${mail}`;
    const hashes = await t.admin`select token_hash from auth.refresh_tokens`;
    const secrets = [
      password,
      'a wrong passphrase',
      'another secret passphrase',
      p.accessToken,
      p.refreshToken,
      inn.accessToken,
      inn.refreshToken,
      re.accessToken,
      re.refreshToken,
      row!.encrypted_password as string,
      ...hashes.map((h) => h.token_hash as string),
    ];
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/\$argon2id\$|eyJhbGciOi/);

    const lines = logs.flatMap((l) => l.split('\n')).filter((l) => l.trim().length > 0);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = entries.filter((e) => 'operation' in e);
    const signUp = requests.find((e) => e.requestId === 'req-signup-1');
    expect(signUp).toMatchObject({ operation: 'SignUp', type: 'mutation', outcome: 'ok' });
    expect(typeof signUp!.ms).toBe('number');
    const wrong = requests.find((e) => e.operation === 'SignIn' && e.outcome === 'errors');
    expect(wrong).toMatchObject({ codes: ['INVALID_CREDENTIALS'] });
    const me = requests.find((e) => e.operation === 'Me' && e.outcome === 'ok');
    expect(me).toMatchObject({ userId: p.user.id, type: 'query' });
    // A refused token says why (the failed check), never the token.
    const refused = requests.find((e) => e.outcome === 'UNAUTHENTICATED');
    expect(refused?.reason).toMatch(/signature/);
    expect(entries.some((e) => e.level === 50 && String(e.msg).includes('42501'))).toBe(true);
    expect(new Set(requests.map((e) => e.requestId)).size).toBe(requests.length);
  });

  it('logs an unnamed operation by its first field, and a non-JWT bearer as one', async () => {
    logs.length = 0;
    const p = (await t.gql(SIGN_UP, { input: { email: email('unnamed'), password: 'a long enough passphrase' } })).data!
      .signUp;
    await t.gql('{ me { id } }', {}, p.accessToken);
    await t.gql('{ me { id } }', {}, 'not-a-token');
    await new Promise((r) => setTimeout(r, 50));
    const requests = logs
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => 'operation' in e);
    expect(requests.find((e) => e.outcome === 'ok' && e.type === 'query')).toMatchObject({ operation: 'me' });
    expect(requests.find((e) => e.outcome === 'UNAUTHENTICATED')).toMatchObject({
      operation: 'me',
      reason: expect.any(String),
    });
    expect(logs.join('')).not.toContain('not-a-token');
  });

  it('reads as one line a person can follow on a terminal (LOG_FORMAT=pretty)', () => {
    const request = prettyLine(
      JSON.stringify({
        level: 30,
        time: '2026-12-03T14:20:01.234Z',
        service: 'authgate',
        requestId: 'r-1',
        operation: 'signIn',
        type: 'mutation',
        userId: null,
        ms: 12.5,
        outcome: 'errors',
        codes: ['INVALID_CREDENTIALS'],
      }),
    );
    expect(request).toBe('14:20:01.234 INFO  mutation signIn errors INVALID_CREDENTIALS 12.5 ms user=anon req=r-1');
    const message = prettyLine(
      JSON.stringify({ level: 40, time: '2026-12-03T14:20:02.000Z', msg: 'slow start', port: 4000 }),
    );
    expect(message).toBe('14:20:02.000 WARN  slow start port=4000');
    expect(prettyLine('not json')).toBe('not json');
    // JSON unless asked, or unless a person is at the terminal outside production.
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({ NODE_ENV: 'production' }).logFormat).toBe('json');
    expect(loadConfig({}).logFormat).toBe(process.stdout.isTTY ? 'pretty' : 'json');
  });

  it('returns the request id to the client', async () => {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    const other = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'bad id with spaces' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
