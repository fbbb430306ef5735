import { randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CaughtMail, codesIn, linksIn, type MailCatcher, startMailCatcher } from '../../src/mail/catcher.js';
import {
  codeOf,
  email,
  type GqlResponse,
  PASSWORD,
  REFRESH,
  type Session,
  SIGN_IN,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';
import { ADMIN_UPDATE, NO_LIMITS, sessionId } from './support.js';

/**
 * The audit log: one row per auth event, written in the transaction of the change it records,
 * never a secret; read by the service role (auditLog) and by users for their own account
 * (me.securityEvents), never through the table by the request path's roles.
 */

let t: TestGateway;
let service: string;
// REFRESH_REUSE_INTERVAL_S=0: any replay of a spent refresh token reads as theft.
const env = { ...NO_LIMITS, REFRESH_REUSE_INTERVAL_S: '0' };

beforeAll(async () => {
  t = await startGateway(env);
  service = await t.gateway.tokens.signServiceRole(600);
});
afterAll(async () => {
  await t?.close();
});

type Row = {
  id: string;
  actor_kind: string;
  actor_id: string | null;
  user_id: string | null;
  event: string;
  ip: string | null;
  user_agent: string | null;
  detail: Record<string, unknown>;
};

const rowsOf = (userId: string) =>
  t.admin<Row[]>`select id, actor_kind, actor_id, user_id, event, ip, user_agent, detail
                 from auth.audit_log where user_id = ${userId} order by created_at, id`;
const eventsOf = async (userId: string) => (await rowsOf(userId)).map((r) => r.event);

function ok<T = any>(res: GqlResponse, field: string): T {
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data![field] as T;
}

const ua = () => `audit-test/${randomBytes(4).toString('hex')}`;
const signInAs = (s: Pick<Session, 'email'>, password = PASSWORD, agent?: string) =>
  t.gql(SIGN_IN, { input: { email: s.email, password } }, undefined, agent ? { 'user-agent': agent } : undefined);

/** The authenticator app: the code of the step `steps` periods from now. */
const codeAt = (secret: string, steps = 0): string =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({
    timestamp: Date.now() + steps * 30_000,
  });

const AUDIT_LOG = /* GraphQL */ `
  query Audit($first: Int, $after: String, $filter: AuditLogFilter) {
    auditLog(first: $first, after: $after, filter: $filter) {
      edges { cursor node { id event actorKind actorId userId ip userAgent detail createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }`;
const MY_EVENTS = /* GraphQL */ `
  query Mine($first: Int, $after: String) {
    me { securityEvents(first: $first, after: $after) {
      edges { cursor node { id event actorKind ip userAgent detail createdAt } }
      pageInfo { hasNextPage endCursor }
    } }
  }`;

describe('events', () => {
  it('records sign-up, sign-in, refresh and sign-out once each, with actor, target, ip and user agent', async () => {
    const agent = ua();
    const res = await t.gql(
      'mutation S($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } } }',
      { input: { email: `audit${randomBytes(4).toString('hex')}@example.com`, password: PASSWORD } },
      undefined,
      { 'user-agent': agent },
    );
    const up = ok(res, 'signUp');
    const userId = up.user.id as string;
    const email = (await t.admin<{ email: string }[]>`select email from auth.users where id = ${userId}`)[0]!.email;
    const signedIn = ok(await signInAs({ email }, PASSWORD, agent), 'signIn');
    const refreshed = ok(
      await t.gql(REFRESH, { token: signedIn.refreshToken }, undefined, { 'user-agent': agent }),
      'refresh',
    );
    ok(
      await t.gql('mutation { signOut(scope: GLOBAL) }', {}, refreshed.accessToken, { 'user-agent': agent }),
      'signOut',
    );

    const rows = await rowsOf(userId);
    expect(rows.map((r) => r.event)).toEqual([
      'user.signed_up',
      'user.signed_in',
      'session.refreshed',
      'user.signed_out',
    ]);
    for (const r of rows) {
      expect(r).toMatchObject({ actor_kind: 'user', actor_id: userId, user_id: userId, user_agent: agent });
      expect(r.ip).toContain('127.0.0.1');
    }
    expect(rows[0]!.detail).toEqual({ method: 'password', sessionId: sessionId(up) });
    expect(rows[1]!.detail).toEqual({ method: 'password', sessionId: sessionId(signedIn) });
    expect(rows[2]!.detail).toEqual({ sessionId: sessionId(signedIn), replayed: false });
    expect(rows[3]!.detail).toEqual({ scope: 'global', sessionId: sessionId(refreshed) });
  });

  it('records a failed sign-in: wrong password against the account, unknown address against nobody', async () => {
    const s = await signUp(t);
    const agent = ua();
    expect(codeOf(await signInAs(s, 'not the password', agent))).toBe('INVALID_CREDENTIALS');
    const [failed] = (await rowsOf(s.userId)).filter((r) => r.event === 'user.sign_in_failed');
    expect(failed).toMatchObject({
      actor_kind: 'anonymous',
      actor_id: null,
      user_agent: agent,
      detail: { method: 'password', reason: 'WRONG_PASSWORD' },
    });
    const stranger = ua();
    expect(codeOf(await signInAs({ email: `nobody${Date.now()}@example.com` }, PASSWORD, stranger))).toBe(
      'INVALID_CREDENTIALS',
    );
    const unknown = await t.admin<Row[]>`select * from auth.audit_log where user_agent = ${stranger}`;
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatchObject({
      user_id: null,
      event: 'user.sign_in_failed',
      detail: { reason: 'UNKNOWN_EMAIL' },
    });
  });

  it('records refresh-token reuse as the gateway ending the session', async () => {
    const s = await signUp(t);
    ok(await t.gql(REFRESH, { token: s.refreshToken }), 'refresh');
    expect(codeOf(await t.gql(REFRESH, { token: s.refreshToken }))).toBe('INVALID_REFRESH_TOKEN');
    const reused = (await rowsOf(s.userId)).filter((r) => r.event === 'session.refresh_token_reused');
    expect(reused).toHaveLength(1);
    expect(reused[0]).toMatchObject({ actor_kind: 'system', actor_id: null, detail: { sessionId: sessionId(s) } });
  });

  it('records a password change, a revoked session and an account deletion', async () => {
    const s = await signUp(t);
    const other = ok(await signInAs(s), 'signIn');
    ok(
      await t.gql(
        'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id } }',
        { input: { password: 'a new horse battery', currentPassword: PASSWORD } },
        s.accessToken,
      ),
      'updateUser',
    );
    const third = ok(await signInAs(s, 'a new horse battery'), 'signIn');
    const revoke = 'mutation R($id: ID!) { revokeSession(id: $id) }';
    expect(ok(await t.gql(revoke, { id: sessionId(third) }, s.accessToken), 'revokeSession')).toBe(true);
    // Another user's session, or none: nothing changes, nothing is recorded.
    expect(ok(await t.gql(revoke, { id: sessionId(other) }, s.accessToken), 'revokeSession')).toBe(false);
    ok(
      await t.gql(
        'mutation D($p: String!) { deleteAccount(password: $p) }',
        { p: 'a new horse battery' },
        s.accessToken,
      ),
      'deleteAccount',
    );
    expect(await eventsOf(s.userId)).toEqual([
      'user.signed_up',
      'user.signed_in',
      'user.password_changed',
      'user.signed_in',
      'session.revoked',
      'user.deleted',
    ]);
  });

  it('records MFA enroll, activation with recovery codes, challenge, regeneration and removal', async () => {
    const s = await signUp(t);
    const e = ok(await t.gql('mutation { mfaEnroll { factorId secret } }', {}, s.accessToken), 'mfaEnroll');
    const a = ok(
      await t.gql(
        'mutation A($id: ID!, $code: String!) { mfaActivate(factorId: $id, code: $code) { session { accessToken } recoveryCodes } }',
        { id: e.factorId, code: codeAt(e.secret) },
        s.accessToken,
      ),
      'mfaActivate',
    );
    const aal2 = a.session.accessToken as string;
    ok(await t.gql('mutation { mfaRegenerateRecoveryCodes }', {}, aal2), 'mfaRegenerateRecoveryCodes');
    const challenged = ok(await signInAs(s), 'signIn');
    const VERIFY = 'mutation V($id: ID!, $code: String!) { mfaVerify(factorId: $id, code: $code) { accessToken } }';
    // Spent by the activation: a wrong code now.
    expect(codeOf(await t.gql(VERIFY, { id: e.factorId, code: codeAt(e.secret) }, challenged.accessToken))).toBe(
      'INVALID_CREDENTIALS',
    );
    // The next step's code: the activation spent this one.
    ok(
      await t.gql(
        'mutation V($id: ID!, $code: String!) { mfaVerify(factorId: $id, code: $code) { accessToken } }',
        { id: e.factorId, code: codeAt(e.secret, 1) },
        challenged.accessToken,
      ),
      'mfaVerify',
    );
    const fresh = ok(await signInAs(s), 'signIn');
    const codes = ok(await t.gql('mutation { mfaRegenerateRecoveryCodes }', {}, aal2), 'mfaRegenerateRecoveryCodes');
    const passed = ok(
      await t.gql(
        'mutation R($code: String!) { mfaVerifyRecoveryCode(code: $code) { accessToken } }',
        { code: codes[0] },
        fresh.accessToken,
      ),
      'mfaVerifyRecoveryCode',
    );
    ok(
      await t.gql('mutation U($id: ID!) { mfaUnenroll(factorId: $id) }', { id: e.factorId }, passed.accessToken),
      'mfaUnenroll',
    );
    const rows = await rowsOf(s.userId);
    expect(rows.map((r) => r.event)).toEqual([
      'user.signed_up',
      'mfa.factor_enrolled',
      'mfa.factor_verified',
      'mfa.recovery_codes_generated',
      'mfa.recovery_codes_generated',
      'user.signed_in',
      'mfa.challenge_failed',
      'mfa.challenge_verified',
      'user.signed_in',
      'mfa.recovery_codes_generated',
      'mfa.recovery_code_used',
      'mfa.factor_removed',
    ]);
    expect(rows[2]!.detail).toMatchObject({ factorId: e.factorId, factorType: 'totp' });
    expect(rows[3]!.detail).toEqual({ count: 10 });
    expect(rows[6]).toMatchObject({
      actor_kind: 'user',
      detail: { method: 'totp', factorId: e.factorId, reason: 'WRONG_CODE' },
    });
  });

  it('records admin actions with the service role as actor', async () => {
    const s = await signUp(t);
    const until = new Date(Date.now() + 3600_000).toISOString();
    ok(
      await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: until, appMetadata: { plan: 'pro' } } }, service),
      'adminUpdateUser',
    );
    ok(await t.gql(ADMIN_UPDATE, { id: s.userId, input: { bannedUntil: null } }, service), 'adminUpdateUser');
    ok(await t.gql('mutation O($id: ID!) { adminSignOut(userId: $id) }', { id: s.userId }, service), 'adminSignOut');
    ok(await t.gql('mutation D($id: ID!) { adminDeleteUser(id: $id) }', { id: s.userId }, service), 'adminDeleteUser');
    const rows = (await rowsOf(s.userId)).slice(1);
    expect(rows.map((r) => r.event)).toEqual([
      'admin.user_updated',
      'user.banned',
      'admin.user_updated',
      'user.unbanned',
      'admin.user_signed_out',
      'user.deleted',
    ]);
    for (const r of rows) expect(r).toMatchObject({ actor_kind: 'service_role', actor_id: null, user_id: s.userId });
    expect(rows[0]!.detail).toEqual({ fields: ['appMetadata', 'bannedUntil'] });
    expect(rows[1]!.detail).toEqual({ bannedUntil: until });
  });
});

describe('transactions', () => {
  /**
   * Runs `fn` while a trigger raises for rows of `userId`; `trigger` is its definition with
   * TRIGGER for its name ("trigger TRIGGER before insert on auth.x"). Dropped afterwards.
   */
  async function failingFor(userId: string, trigger: string, fn: () => Promise<void>): Promise<void> {
    const name = `audit_fail_${randomBytes(4).toString('hex')}`;
    const table = /on (auth\.\w+)/.exec(trigger)![1];
    await t.admin.unsafe(`
      create function public.${name}() returns trigger language plpgsql as $$
      begin if new.user_id = '${userId}' then raise exception 'forced failure'; end if; return new; end $$;
      create ${trigger.replace('TRIGGER', name)} for each row execute function public.${name}();`);
    try {
      await fn();
    } finally {
      await t.admin.unsafe(`drop trigger ${name} on ${table}; drop function public.${name}();`);
    }
  }

  const countsOf = async (userId: string) =>
    (
      await t.admin<{ sessions: number; spent: number }[]>`
        select (select count(*)::int from auth.sessions where user_id = ${userId}) as sessions,
               (select count(*)::int from auth.refresh_tokens where user_id = ${userId} and spent_at is not null) as spent`
    )[0];

  it('leaves no row when the change rolls back after the audit insert (a failure at commit)', async () => {
    const s = await signUp(t);
    const before = await eventsOf(s.userId);
    // A deferred trigger fails the sign-in's transaction at COMMIT, after every statement
    // (the audit insert too) has run.
    await failingFor(
      s.userId,
      'constraint trigger TRIGGER after insert on auth.sessions deferrable initially deferred',
      async () => {
        expect((await signInAs(s)).errors).toBeDefined();
      },
    );
    expect(await eventsOf(s.userId)).toEqual(before);
    expect(await countsOf(s.userId)).toEqual({ sessions: 1, spent: 0 });
    // Without the trigger, the same sign-in commits with its row.
    ok(await signInAs(s), 'signIn');
    expect((await eventsOf(s.userId)).filter((e) => e === 'user.signed_in')).toHaveLength(1);
  });

  it('fails the change when its audit row cannot be written: no session without its entry', async () => {
    const s = await signUp(t);
    await failingFor(s.userId, 'trigger TRIGGER before insert on auth.audit_log', async () => {
      expect((await signInAs(s)).errors).toBeDefined();
      expect((await t.gql(REFRESH, { token: s.refreshToken })).errors).toBeDefined();
    });
    expect(await countsOf(s.userId)).toEqual({ sessions: 1, spent: 0 });
    ok(await t.gql(REFRESH, { token: s.refreshToken }), 'refresh');
  });
});

describe('secrets', () => {
  it('never holds a password, token or hash', async () => {
    const s = await signUp(t);
    const signedIn = ok(await signInAs(s), 'signIn');
    const refreshed = ok(await t.gql(REFRESH, { token: signedIn.refreshToken }), 'refresh');
    expect(codeOf(await signInAs(s, 'a wrong guess of a password'))).toBe('INVALID_CREDENTIALS');
    const e = ok(await t.gql('mutation { mfaEnroll { factorId secret } }', {}, refreshed.accessToken), 'mfaEnroll');
    const hashes = await t.admin<{ h: string }[]>`
      select encrypted_password as h from auth.users where id = ${s.userId}
      union all select token_hash from auth.refresh_tokens where user_id = ${s.userId}
      union all select secret from auth.mfa_factors where user_id = ${s.userId}`;
    const secrets = [
      PASSWORD,
      'a wrong guess of a password',
      s.accessToken,
      s.refreshToken,
      signedIn.accessToken,
      signedIn.refreshToken,
      refreshed.accessToken,
      refreshed.refreshToken,
      e.secret,
      ...hashes.map((h) => h.h),
    ];
    const rows = await t.admin<{ text: string }[]>`select row_to_json(a)::text as text from auth.audit_log a`;
    expect(rows.length).toBeGreaterThan(0);
    for (const { text } of rows) for (const secret of secrets) expect(text).not.toContain(secret);
  });
});

describe('reading', () => {
  it('shows a user their own events only, hiding who else acted and from where', async () => {
    const a = await signUp(t);
    const b = await signUp(t);
    expect(codeOf(await signInAs(a, 'wrong'))).toBe('INVALID_CREDENTIALS');
    ok(await t.gql(ADMIN_UPDATE, { id: a.userId, input: { appMetadata: { x: 1 } } }, service), 'adminUpdateUser');
    const first = ok(await t.gql(MY_EVENTS, { first: 2 }, a.accessToken), 'me').securityEvents;
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = ok(
      await t.gql(MY_EVENTS, { first: 10, after: first.pageInfo.endCursor }, a.accessToken),
      'me',
    ).securityEvents;
    const nodes = [...first.edges, ...rest.edges].map((e: { node: Record<string, unknown> }) => e.node);
    expect(nodes.map((n) => n.event)).toEqual(['admin.user_updated', 'user.sign_in_failed', 'user.signed_up']);
    expect(nodes[0]).toMatchObject({ actorKind: 'service_role', ip: null, userAgent: null, detail: null });
    expect(nodes[1]).toMatchObject({ actorKind: 'anonymous', ip: null, detail: null });
    expect(nodes[2]).toMatchObject({ actorKind: 'user', detail: { method: 'password' } });
    expect(nodes[2]!.ip).toContain('127.0.0.1');
    const ids = new Set((await rowsOf(b.userId)).map((r) => r.id));
    for (const n of nodes) expect(ids.has(n.id as string)).toBe(false);
  });

  it('refuses the log to anyone but the service role', async () => {
    const a = await signUp(t);
    expect(codeOf(await t.gql(AUDIT_LOG, {}, a.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql(AUDIT_LOG, {}))).toBe('FORBIDDEN');
  });

  it('pages the service role through the log, filtered by user, events and time', async () => {
    const s = await signUp(t);
    for (let i = 0; i < 3; i++) ok(await signInAs(s), 'signIn');
    const filter = { userId: s.userId, events: ['user.signed_in'] };
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      type Page = { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
      const res: Page = ok(await t.gql(AUDIT_LOG, { first: 2, after, filter }, service), 'auditLog');
      seen.push(
        ...res.edges.map((e) => {
          expect(e.node).toMatchObject({ event: 'user.signed_in', userId: s.userId, actorId: s.userId });
          return e.node.id;
        }),
      );
      if (!res.pageInfo.hasNextPage) break;
      after = res.pageInfo.endCursor;
    }
    const expected = (await rowsOf(s.userId))
      .filter((r) => r.event === 'user.signed_in')
      .map((r) => r.id)
      .reverse();
    expect(seen).toEqual(expected);
    expect(seen).toHaveLength(3);
    const future = new Date(Date.now() + 3600_000).toISOString();
    const none = ok(await t.gql(AUDIT_LOG, { filter: { userId: s.userId, since: future } }, service), 'auditLog');
    expect(none.edges).toEqual([]);
    const past = ok(await t.gql(AUDIT_LOG, { filter: { userId: s.userId, until: future } }, service), 'auditLog');
    expect(past.edges).toHaveLength(4);
    expect(codeOf(await t.gql(AUDIT_LOG, { filter: { events: ['no.such_event'] } }, service))).toBe('BAD_USER_INPUT');
  });

  it('is out of reach of anon and authenticated in SQL', async () => {
    const s = await signUp(t);
    const login = postgres(t.gateway.loginUrl, { max: 1, onnotice: () => {} });
    try {
      for (const role of ['anon', 'authenticated']) {
        const attempt = (q: string) =>
          login.begin(async (tx) => {
            await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: s.userId, role })}, true),
                            set_config('role', ${role}, true)`;
            return tx.unsafe(q);
          });
        await expect(attempt(`select * from auth.audit_log where user_id = '${s.userId}'`)).rejects.toMatchObject({
          code: '42501',
        });
        await expect(
          attempt(
            `insert into auth.audit_log (actor_kind, user_id, event) values ('user', '${s.userId}', 'user.signed_in')`,
          ),
        ).rejects.toMatchObject({ code: '42501' });
      }
    } finally {
      await login.end({ timeout: 5 });
    }
  });
});

describe('retention', () => {
  it('deletes rows older than AUDIT_LOG_RETENTION_DAYS and keeps newer ones', async () => {
    const s = await signUp(t);
    await t.admin`update auth.audit_log set created_at = now() - interval '91 days' where user_id = ${s.userId}`;
    ok(await signInAs(s), 'signIn');
    const { auditRowsDeleted } = await t.gateway.maintenance.run();
    expect(auditRowsDeleted).toBeGreaterThanOrEqual(1);
    expect(await eventsOf(s.userId)).toEqual(['user.signed_in']);
  });

  it('keeps everything with 0', async () => {
    const keep = await startGateway({ ...env, AUDIT_LOG_RETENTION_DAYS: '0' });
    try {
      const s = await signUp(keep);
      await keep.admin`update auth.audit_log set created_at = now() - interval '5000 days' where user_id = ${s.userId}`;
      expect((await keep.gateway.maintenance.run()).auditRowsDeleted).toBe(0);
      const [n] = await keep.admin<
        { n: number }[]
      >`select count(*)::int as n from auth.audit_log where user_id = ${s.userId}`;
      expect(n!.n).toBe(1);
    } finally {
      await keep.close();
    }
  });
});

describe('mailed flows and anonymous users', () => {
  let catcher: MailCatcher;
  let m: TestGateway;
  beforeAll(async () => {
    catcher = await startMailCatcher();
    m = await startGateway({
      ...env,
      SMTP_URL: catcher.url,
      REQUIRE_EMAIL_CONFIRMATION: 'true',
      ANONYMOUS_SIGN_IN: 'true',
    });
  });
  afterAll(async () => {
    await m?.close();
    await catcher?.close();
  });

  const taken = new Set<CaughtMail>();
  /** The next mail to `address` carrying a link with a token (notices carry none). */
  const nextLink = async (address: string): Promise<string> => {
    const withToken = (x: CaughtMail) => linksIn(x).find((l) => l.includes('token='));
    const mail = await catcher.waitFor((x) => x.to.includes(address) && !taken.has(x) && withToken(x) !== undefined);
    taken.add(mail);
    return new URL(withToken(mail)!).searchParams.get('token')!;
  };
  const nextMail = async (address: string) => {
    const mail = await catcher.waitFor((x) => x.to.includes(address) && !taken.has(x));
    taken.add(mail);
    return mail;
  };
  const events = async (userId: string) =>
    (
      await m.admin<Row[]>`select event, actor_kind, actor_id, detail from auth.audit_log
                           where user_id = ${userId} order by created_at, id`
    ).map((r) => ({ event: r.event, actor: r.actor_kind, method: r.detail.method ?? null }));

  it('records confirmation, reset, email change, a magic-link sign-up and an anonymous sign-up, with no mailed secret', async () => {
    const secrets: string[] = [];
    const address = email('auditmail');
    const reg = ok(
      await m.gql('mutation R($input: SignUpInput!) { register(input: $input) { user { id } } }', {
        input: { email: address, password: PASSWORD },
      }),
      'register',
    );
    const userId = reg.user.id as string;
    const confirm = await nextLink(address);
    secrets.push(confirm);
    const verified = ok(
      await m.gql('mutation V($token: String!) { verifyEmail(token: $token) { accessToken refreshToken } }', {
        token: confirm,
      }),
      'verifyEmail',
    );
    ok(
      await m.gql('mutation Q($email: String!) { requestPasswordReset(email: $email) }', { email: address }),
      'requestPasswordReset',
    );
    const reset = await nextLink(address);
    secrets.push(reset, 'a reset passphrase 9');
    const afterReset = ok(
      await m.gql(
        'mutation P($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) { accessToken refreshToken } }',
        { token: reset, password: 'a reset passphrase 9' },
      ),
      'resetPassword',
    );
    const newAddress = email('auditnew');
    ok(
      await m.gql(
        'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id } }',
        { input: { email: newAddress, currentPassword: 'a reset passphrase 9' } },
        afterReset.accessToken,
      ),
      'updateUser',
    );
    const CONFIRM = 'mutation C($token: String!) { confirmEmailChange(token: $token) { complete } }';
    const proveNew = await nextLink(newAddress);
    const approve = await nextLink(address);
    secrets.push(proveNew, approve, verified.accessToken, verified.refreshToken, afterReset.refreshToken);
    expect(ok(await m.gql(CONFIRM, { token: proveNew }), 'confirmEmailChange')).toEqual({ complete: false });
    expect(ok(await m.gql(CONFIRM, { token: approve }), 'confirmEmailChange')).toEqual({ complete: true });
    expect(await events(userId)).toEqual([
      { event: 'user.signed_up', actor: 'user', method: 'password' },
      { event: 'user.email_confirmed', actor: 'user', method: null },
      { event: 'user.signed_in', actor: 'user', method: 'otp' },
      { event: 'user.password_reset', actor: 'user', method: null },
      { event: 'user.signed_in', actor: 'user', method: 'recovery' },
      { event: 'user.email_change_requested', actor: 'user', method: null },
      { event: 'user.email_changed', actor: 'user', method: null },
    ]);

    // A magic link's code to an address with no account makes the account when used.
    const fresh = email('auditotp');
    ok(
      await m.gql('mutation O($email: String!) { signInWithOtp(email: $email, createUser: true) }', { email: fresh }),
      'signInWithOtp',
    );
    const [code] = codesIn(await nextMail(fresh));
    secrets.push(code!);
    const wrong = code === '000000' ? '111111' : '000000';
    const VERIFY_OTP =
      'mutation V($email: String!, $code: String!) { verifyOtp(email: $email, code: $code) { user { id } } }';
    expect((await m.gql(VERIFY_OTP, { email: fresh, code: wrong })).errors).toBeDefined();
    const failedOtp = await m.admin<Row[]>`
      select * from auth.audit_log where event = 'user.sign_in_failed' and detail->>'method' = 'otp'`;
    expect(failedOtp).toHaveLength(1);
    expect(failedOtp[0]).toMatchObject({ user_id: null, actor_kind: 'anonymous', detail: { reason: 'WRONG_CODE' } });
    const viaCode = ok(await m.gql(VERIFY_OTP, { email: fresh, code }), 'verifyOtp');
    expect(await events(viaCode.user.id)).toEqual([
      { event: 'user.signed_up', actor: 'user', method: 'otp' },
      { event: 'user.signed_in', actor: 'user', method: 'otp' },
    ]);

    const anon = ok(await m.gql('mutation { signInAnonymously { refreshToken user { id } } }'), 'signInAnonymously');
    secrets.push(anon.refreshToken);
    expect(await events(anon.user.id)).toEqual([{ event: 'user.signed_up', actor: 'user', method: 'anonymous' }]);

    const rows = await m.admin<{ text: string }[]>`select row_to_json(a)::text as text from auth.audit_log a`;
    for (const { text } of rows) for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
