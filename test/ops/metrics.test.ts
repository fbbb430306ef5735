import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { email, ME, PASSWORD, SIGN_IN, signUp, startGateway, type TestGateway } from '../helpers.js';

describe('GET /metrics', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ RATE_LIMIT_SIGNIN_EMAIL_MAX: '1' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('exposes request durations by operation, auth events by outcome, connections in use and rate-limit hits', async () => {
    const s = await signUp(t);
    await t.gql(ME, {}, s.accessToken);
    const mail = email('metrics');
    await t.gql(SIGN_IN, { input: { email: mail, password: PASSWORD } });
    await t.gql(SIGN_IN, { input: { email: mail, password: PASSWORD } });

    const res = await fetch(t.url.replace(/\/graphql$/, '/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/authgate_graphql_request_duration_seconds_bucket\{[^}]*operation="Me"[^}]*outcome="ok"/);
    expect(text).toMatch(/authgate_graphql_request_duration_seconds_count\{[^}]*operation="SignUp"[^}]*\} 1/);
    expect(text).toMatch(/authgate_auth_events_total\{event="signUp",outcome="ok"\} 1/);
    expect(text).toMatch(/authgate_auth_events_total\{event="signIn",outcome="INVALID_CREDENTIALS"\} 1/);
    expect(text).toMatch(/authgate_auth_events_total\{event="signIn",outcome="RATE_LIMITED"\} 1/);
    expect(text).toMatch(/authgate_rate_limit_hits_total\{limit="signin_pair"\} 1/);
    expect(text).toMatch(/authgate_db_connections_in_use \d+/);
    expect(text).toMatch(/nodejs_eventloop_lag_p99_seconds \d/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    // Nothing secret or personal in labels.
    expect(text).not.toContain(mail);
    expect(text).not.toContain(s.accessToken);
  });

  it('pools operation names past a bound, so strangers cannot grow the label set', async () => {
    for (let i = 0; i < 210; i++) await t.gql(`query Op${i} { __typename }`);
    const text = await (await fetch(t.url.replace(/\/graphql$/, '/metrics'))).text();
    const names = new Set([...text.matchAll(/operation="([^"]+)"/g)].map((m) => m[1]));
    expect(names.size).toBeLessThanOrEqual(201);
    expect(names.has('other')).toBe(true);
  });
});
