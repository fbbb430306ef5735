import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedMediaType } from '../../src/graphql/known-documents.js';
import {
  type Answer,
  codeOf,
  ME,
  type Session,
  SIGN_IN,
  send,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

// Known documents (src/graphql/known-documents.ts) are served beside graphql-yoga's HTTP
// pipeline. The first request of a text always goes through yoga; a repeat is served from the
// fast path. So each case sends the same request twice and requires the two answers to be the
// same, byte for byte and header for header, while the fast path's counter shows which path
// answered. Then the attacks: what yoga refuses must never become servable by being repeated.

/** POSTs `body` as JSON with `headers`. */
const post = (url: string, body: string, headers: Record<string, string> = {}): Promise<Answer> =>
  send(url, 'POST', { 'content-type': 'application/json', ...headers }, body);

/** The answer without what differs between any two requests (date, request id). */
function comparable(a: Answer) {
  const { date: _d, 'x-request-id': _r, 'keep-alive': _k, connection: _c, ...headers } = a.headers;
  return { status: a.status, headers, text: a.text };
}

async function servedFast(t: TestGateway): Promise<number> {
  const text = await (await fetch(new URL('/metrics', t.url))).text();
  return Number(/^authgate_graphql_known_document_requests_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

/** Sends `body` twice; the first answer is yoga's, the second the fast path's if `fast`. */
async function twice(t: TestGateway, body: Record<string, unknown>, headers: Record<string, string> = {}, fast = true) {
  const json = JSON.stringify(body);
  const before = await servedFast(t);
  const first = await post(t.url, json, headers);
  const between = await servedFast(t);
  const second = await post(t.url, json, headers);
  const after = await servedFast(t);
  expect(between - before, 'the first request of a text goes through yoga').toBe(0);
  expect(after - between, fast ? 'the repeat is served as a known document' : 'the repeat still goes to yoga').toBe(
    fast ? 1 : 0,
  );
  return { first, second };
}

/** A text no other test sends, so its first request is yoga's. */
const fresh = (query: string): string => `${query} # ${randomUUID()}`;

let gw: TestGateway;
let alice: Session;
let bob: Session;

beforeAll(async () => {
  gw = await startGateway({ CORS_ORIGINS: 'https://app.example', GRAPHQL_INTROSPECTION: 'false' });
  [alice, bob] = await Promise.all([signUp(gw), signUp(gw)]);
});
afterAll(async () => {
  await gw?.close();
});

describe('a repeated document is answered as yoga answered it', () => {
  const cases: Array<[string, () => Record<string, unknown>, () => Record<string, string>]> = [
    ['me, signed in', () => ({ query: fresh(ME) }), () => ({ authorization: `Bearer ${alice.accessToken}` })],
    ['me, anonymous', () => ({ query: fresh(ME) }), () => ({})],
    ['me with a bad token (UNAUTHENTICATED)', () => ({ query: fresh(ME) }), () => ({ authorization: 'Bearer nope' })],
    [
      'a page of profiles with variables',
      () => ({
        query: fresh(
          'query P($n: Int) { profiles(first: $n) { edges { cursor node { id username } } pageInfo { hasNextPage } } }',
        ),
        variables: { n: 2 },
      }),
      () => ({ authorization: `Bearer ${bob.accessToken}` }),
    ],
    [
      'a variable of the wrong type',
      () => ({ query: fresh('query P($n: Int) { profiles(first: $n) { edges { cursor } } }'), variables: { n: 'x' } }),
      () => ({}),
    ],
    [
      'errors as application/graphql-response+json',
      () => ({ query: fresh(ME) }),
      () => ({ authorization: 'Bearer nope', accept: 'application/graphql-response+json' }),
    ],
    [
      'a client listing several types (urql)',
      () => ({ query: fresh(ME) }),
      () => ({
        authorization: `Bearer ${alice.accessToken}`,
        accept:
          'application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed',
      }),
    ],
    [
      'a configured origin (CORS)',
      () => ({ query: fresh(ME) }),
      () => ({ authorization: `Bearer ${alice.accessToken}`, origin: 'https://app.example' }),
    ],
    ['another origin', () => ({ query: fresh(ME) }), () => ({ origin: 'https://evil.example' })],
    [
      'a mutation that fails (wrong password)',
      () => ({ query: fresh(SIGN_IN), variables: { input: { email: alice.email, password: 'wrong password!' } } }),
      () => ({}),
    ],
  ];

  for (const [name, body, headers] of cases) {
    it(name, async () => {
      const { first, second } = await twice(gw, body(), headers());
      expect(comparable(second)).toEqual(comparable(first));
    });
  }

  it('keeps the request transaction: a signed-out session is refused on the fast path', async () => {
    const carol = await signUp(gw);
    const query = fresh(ME);
    const auth = { authorization: `Bearer ${carol.accessToken}` };
    const { first, second } = await twice(gw, { query }, auth);
    expect(JSON.parse(second.text).data.me.id).toBe(carol.userId);
    expect(comparable(second)).toEqual(comparable(first));
    const out = await gw.gql('mutation { signOut }', {}, carol.accessToken);
    expect(out.errors).toBeUndefined();
    const before = await servedFast(gw);
    const after = await post(gw.url, JSON.stringify({ query }), auth);
    expect(await servedFast(gw)).toBe(before + 1);
    expect(JSON.parse(after.text).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('keeps row level security: another user’s private profile stays hidden', async () => {
    await gw.admin`update public.profiles set is_public = false where id = ${alice.userId}`;
    const query = fresh('query Q($id: ID!) { profile(id: $id) { id } }');
    const { first, second } = await twice(
      gw,
      { query, variables: { id: alice.userId } },
      {
        authorization: `Bearer ${bob.accessToken}`,
      },
    );
    expect(JSON.parse(second.text).data.profile).toBeNull();
    expect(comparable(second)).toEqual(comparable(first));
  });
});

describe('what yoga refuses never becomes servable by repetition', () => {
  it('a document over the alias limit is refused every time', async () => {
    const aliases = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
    const { first, second } = await twice(gw, { query: fresh(aliases) }, {}, false);
    expect(codeOf(JSON.parse(first.text))).toBe('BAD_USER_INPUT');
    expect(comparable(second)).toEqual(comparable(first));
  });

  it('introspection, switched off, is refused every time', async () => {
    const { first, second } = await twice(gw, { query: fresh('{ __schema { types { name } } }') }, {}, false);
    expect(JSON.parse(first.text).data).toBeUndefined();
    expect(comparable(second)).toEqual(comparable(first));
  });

  it('an operation name the known document does not have goes to yoga', async () => {
    const query = fresh('query A { me { id } } query B { me { email } }');
    await twice(gw, { query, operationName: 'A' });
    const { first, second } = await twice(gw, { query, operationName: 'C' }, {}, false);
    expect(first.status).toBe(400);
    expect(comparable(second)).toEqual(comparable(first));
  });

  it('a body with parameters yoga does not know goes to yoga', async () => {
    const { first, second } = await twice(gw, { query: fresh(ME), stray: 1 }, {}, false);
    expect(first.status).toBe(400);
    expect(comparable(second)).toEqual(comparable(first));
  });

  it('a batch goes to yoga', async () => {
    const json = JSON.stringify([{ query: ME }]);
    const before = await servedFast(gw);
    const answer = await post(gw.url, json);
    await post(gw.url, json);
    expect(await servedFast(gw)).toBe(before);
    expect(answer.status).toBeGreaterThanOrEqual(400);
  });

  it('an event stream asked for goes to yoga', async () => {
    await twice(gw, { query: fresh(ME) }, { accept: 'text/event-stream' }, false);
  });
});

describe('trusted documents', () => {
  const DOC = 'query Me { me { id email } }';
  const hex = createHash('sha256').update(DOC).digest('hex');
  let dir: string;
  let only: TestGateway;
  let allow: TestGateway;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'authgate-known-'));
    const manifest = join(dir, 'persisted-documents.json');
    await writeFile(manifest, JSON.stringify({ [`sha256:${hex}`]: DOC }));
    [only, allow] = await Promise.all([
      startGateway({ TRUSTED_DOCUMENTS: manifest, TRUSTED_DOCUMENTS_ONLY: 'true' }),
      startGateway({ TRUSTED_DOCUMENTS: manifest }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([only?.close(), allow?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a trusted id from the fast path once yoga has validated it', async () => {
    const user = await signUp(allow);
    const body = { extensions: { persistedQuery: { version: 1, sha256Hash: hex } } };
    const { first, second } = await twice(allow, body, { authorization: `Bearer ${user.accessToken}` });
    expect(JSON.parse(second.text).data.me.id).toBe(user.userId);
    expect(comparable(second)).toEqual(comparable(first));
  });

  it('only-mode: text is refused every time, however often it is sent', async () => {
    const { first, second } = await twice(only, { query: DOC }, {}, false);
    expect(JSON.parse(first.text).errors[0].extensions.reason).toBe('PERSISTED_DOCUMENT_REQUIRED');
    expect(comparable(second)).toEqual(comparable(first));
    const anon = await twice(only, { documentId: `sha256:${hex}` });
    expect(JSON.parse(anon.second.text).data.me).toBeNull();
  });

  it('never takes the placeholder text yoga names a trusted document by for a known text', async () => {
    // The id was validated by yoga in the first test above; the text yoga parsed in its place
    // is not document text a client sent, so the fast path does not learn it (what yoga does
    // with it is yoga's: here, outside only-mode, it may run the trusted document).
    const before = await servedFast(allow);
    await post(allow.url, JSON.stringify({ query: `__PERSISTED_OPERATION_${hex}__` }));
    await post(allow.url, JSON.stringify({ query: `__PERSISTED_OPERATION_${hex}__` }));
    expect(await servedFast(allow)).toBe(before);
  });
});

describe('GRAPHQL_FAST_PATH=false', () => {
  it('sends every request through yoga', async () => {
    const off = await startGateway({ GRAPHQL_FAST_PATH: 'false' });
    try {
      await twice(off, { query: fresh(ME) }, {}, false);
    } finally {
      await off.close();
    }
  });
});

describe('the media type of the answer, as yoga negotiates it', () => {
  it.each([
    [undefined, 'application/json'],
    ['', 'application/json'],
    ['*/*', 'application/json'],
    ['application/json', 'application/json'],
    ['application/graphql-response+json', 'application/graphql-response+json'],
    ['application/graphql-response+json, application/json', 'application/graphql-response+json'],
    ['application/json, application/graphql-response+json', 'application/json'],
    ['text/event-stream, application/json', 'application/json'],
    ['application/json; charset=latin1', null],
    ['text/event-stream', null],
    ['multipart/mixed', null],
    ['text/html', null],
  ])('Accept %j → %j', (accept, type) => {
    expect(acceptedMediaType(accept)).toBe(type);
  });
});
