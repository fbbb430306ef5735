import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ValidationRule } from 'graphql';
import { createSchema, createYoga, type Plugin } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { buildSchema } from '../../src/graphql/index.js';
import { loadTrustedDocuments, useTrustedDocuments } from '../../src/graphql/trusted-documents.js';
import { createGateway } from '../../src/server.js';
import { email, PASSWORD, startGateway, type TestGateway } from '../helpers.js';

// The manifest as codegen's client preset writes it: `sha256:<hex of the text>` → text.
const SIGN_UP = 'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }';
const ME = 'query Me { me { id profile { fullName } } }';
const RENAME = 'mutation Rename($name: String) { updateProfile(input: { fullName: $name }) { id fullName } }';
const hex = (text: string): string => createHash('sha256').update(text).digest('hex');
const id = (text: string): string => `sha256:${hex(text)}`;
const manifestOf = (...texts: string[]): string => JSON.stringify(Object.fromEntries(texts.map((d) => [id(d), d])));

type Body = { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
type Answer = Body & { status: number; type: string };

/** POSTs `body` as JSON (with the bearer, if any) and returns the parsed answer and its status. */
async function post(url: string, body: Record<string, unknown>, token?: string): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { ...((await res.json()) as Body), status: res.status, type: res.headers.get('content-type') ?? '' };
}
const byId = (documentId: string, variables: Record<string, unknown> = {}) => ({
  variables,
  extensions: { persistedQuery: { version: 1, sha256Hash: documentId } },
});
const first = (a: Answer) => a.errors?.[0]?.extensions;

let dir: string;
let manifest: string;
let only: TestGateway;
let allow: TestGateway;
let off: TestGateway;

/** A new user signed up through the trusted SignUp document. */
async function signUpById(t: TestGateway): Promise<{ token: string; userId: string }> {
  const res = await post(t.url, byId(id(SIGN_UP), { input: { email: email('trusted'), password: PASSWORD } }));
  expect(res.errors).toBeUndefined();
  return { token: res.data.signUp.accessToken, userId: res.data.signUp.user.id };
}
const fullNameInDb = async (t: TestGateway, userId: string): Promise<string | null> =>
  (await t.admin<{ full_name: string | null }[]>`select full_name from public.profiles where id = ${userId}`)[0]!
    .full_name;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'authgate-trusted-'));
  manifest = join(dir, 'persisted-documents.json');
  await writeFile(manifest, manifestOf(SIGN_UP, ME, RENAME));
  [only, allow, off] = await Promise.all([
    startGateway({ TRUSTED_DOCUMENTS: manifest, TRUSTED_DOCUMENTS_ONLY: 'true' }),
    startGateway({ TRUSTED_DOCUMENTS: manifest }),
    startGateway(),
  ]);
});
afterAll(async () => {
  await Promise.all([only?.close(), allow?.close(), off?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('trusted documents, only-mode (TRUSTED_DOCUMENTS_ONLY=true)', () => {
  it('runs a known document by its id, however the client spells the id', async () => {
    const { token, userId } = await signUpById(only);
    // The client preset's `sha256:<hex>` (above), Apollo's bare hex, GraphQL over HTTP's documentId.
    const bare = await post(only.url, byId(hex(ME)), token);
    expect(bare.data?.me).toEqual({ id: userId, profile: { fullName: null } });
    const documentId = await post(only.url, { documentId: id(ME) }, token);
    expect(documentId.data?.me?.id).toBe(userId);

    const renamed = await post(only.url, byId(id(RENAME), { name: 'Trusted' }), token);
    expect(renamed.data?.updateProfile).toEqual({ id: userId, fullName: 'Trusted' });
    expect(await fullNameInDb(only, userId)).toBe('Trusted');

    // GET works for queries, with the id in the URL.
    const get = await fetch(`${only.url}?documentId=${encodeURIComponent(id(ME))}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    expect(((await get.json()) as Body).data?.me?.id).toBe(userId);
  });

  it('answers an unknown id with a coded error that says what to do', async () => {
    for (const unknown of [id(`query Other { me { id } }`), randomBytes(32).toString('hex'), 'x']) {
      const res = await post(only.url, byId(unknown));
      expect(res.data ?? null).toBeNull();
      expect(first(res)).toEqual({ code: 'BAD_USER_INPUT', reason: 'PERSISTED_DOCUMENT_NOT_FOUND' });
      expect(res.errors?.[0]?.message).toContain('TRUSTED_DOCUMENTS');
      expect(res.errors?.[0]?.message).toContain('persisted-documents.json');
    }
    // Neither text nor id: told how to send the id.
    const empty = await post(only.url, { variables: {} });
    expect(first(empty)).toEqual({ code: 'BAD_USER_INPUT', reason: 'PERSISTED_DOCUMENT_REQUIRED' });
    expect(empty.errors?.[0]?.message).toContain('extensions.persistedQuery.sha256Hash');
  });

  it('refuses document text, and a mutation sent as text changes nothing', async () => {
    const { token, userId } = await signUpById(only);
    await post(only.url, byId(id(RENAME), { name: 'Before' }), token);

    const inline = await post(
      only.url,
      { query: 'mutation { updateProfile(input: { fullName: "Inline" }) { id } }' },
      token,
    );
    expect(inline.data ?? null).toBeNull();
    expect(first(inline)).toEqual({ code: 'FORBIDDEN', reason: 'PERSISTED_DOCUMENT_REQUIRED' });
    expect(inline.errors?.[0]?.message).toContain('TRUSTED_DOCUMENTS_ONLY');
    expect(await fullNameInDb(only, userId)).toBe('Before');

    // Queries and introspection too: a stranger learns nothing by sending text.
    for (const query of ['{ me { id } }', '{ __schema { types { name } } }', ME]) {
      const res = await post(only.url, { query }, token);
      expect(res.data ?? null).toBeNull();
      expect(first(res)).toEqual({ code: 'FORBIDDEN', reason: 'PERSISTED_DOCUMENT_REQUIRED' });
    }
  });

  it('never runs text sent beside a known id: the text comes from the manifest alone', async () => {
    const { token, userId } = await signUpById(only);
    await post(only.url, byId(id(RENAME), { name: 'Kept' }), token);
    const smuggled = await post(
      only.url,
      { query: 'mutation { updateProfile(input: { fullName: "Smuggled" }) { id } }', ...byId(id(ME)) },
      token,
    );
    expect(smuggled.data ?? null).toBeNull();
    expect(first(smuggled)).toEqual({ code: 'FORBIDDEN', reason: 'PERSISTED_DOCUMENT_REQUIRED' });
    const viaDocumentId = await post(
      only.url,
      { query: 'mutation { updateProfile(input: { fullName: "Smuggled" }) { id } }', documentId: id(ME) },
      token,
    );
    expect(first(viaDocumentId)).toEqual({ code: 'FORBIDDEN', reason: 'PERSISTED_DOCUMENT_REQUIRED' });
    expect(await fullNameInDb(only, userId)).toBe('Kept');
  });

  it('runs a trusted mutation over POST only', async () => {
    const { token, userId } = await signUpById(only);
    const variables = encodeURIComponent(JSON.stringify({ name: 'ViaGet' }));
    const res = await fetch(`${only.url}?documentId=${encodeURIComponent(id(RENAME))}&variables=${variables}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as Body;
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(body.errors?.[0]?.message).toContain('POST');
    expect(await fullNameInDb(only, userId)).toBeNull();
  });

  it('serves no GraphiQL, which could run nothing here', async () => {
    const res = await fetch(only.url, { headers: { accept: 'text/html' }, signal: AbortSignal.timeout(10_000) });
    expect(res.headers.get('content-type') ?? '').not.toContain('text/html');
    await res.body?.cancel();
    // The same test environment without only-mode serves it.
    const page = await fetch(allow.url, { headers: { accept: 'text/html' }, signal: AbortSignal.timeout(10_000) });
    expect(page.headers.get('content-type')).toContain('text/html');
    await page.body?.cancel();
  });
});

describe('trusted documents beside inline text (TRUSTED_DOCUMENTS without only-mode)', () => {
  it('runs known ids and document text alike; an unknown id points to both ways', async () => {
    const { token, userId } = await signUpById(allow);
    expect((await post(allow.url, byId(id(ME)), token)).data?.me?.id).toBe(userId);
    expect((await post(allow.url, { query: '{ me { id } }' }, token)).data?.me?.id).toBe(userId);
    const unknown = await post(allow.url, byId(randomBytes(32).toString('hex')), token);
    expect(first(unknown)).toEqual({ code: 'BAD_USER_INPUT', reason: 'PERSISTED_DOCUMENT_NOT_FOUND' });
    expect(unknown.errors?.[0]?.message).toContain('send the query text');
  });
});

describe('trusted documents off (the default)', () => {
  it('runs document text as before and resolves no id', async () => {
    const { token, userId } = await (async () => {
      const res = await post(off.url, {
        query: SIGN_UP,
        variables: { input: { email: email('off'), password: PASSWORD } },
      });
      return { token: res.data.signUp.accessToken as string, userId: res.data.signUp.user.id as string };
    })();
    expect((await post(off.url, { query: ME }, token)).data?.me?.id).toBe(userId);
    const res = await post(off.url, byId(id(ME)), token);
    expect(res.data ?? null).toBeNull();
    expect(first(res)?.code).toBe('BAD_USER_INPUT');
    expect(first(res)?.reason).not.toBe('PERSISTED_DOCUMENT_NOT_FOUND');
  });
});

describe('manifests the gateway refuses to start with', () => {
  const write = async (name: string, content: string): Promise<string> => {
    const file = join(dir, name);
    await writeFile(file, content);
    return file;
  };
  const refusal = (files: string[]): string => {
    try {
      loadTrustedDocuments(files, buildSchema());
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('the manifest was accepted');
  };
  const MUTATION = 'mutation { updateProfile(input: { fullName: "Swapped" }) { id } }';

  it('refuses an id whose manifest text is not the text it hashes', async () => {
    // A known id with other text behind it: the id would vouch for a document nobody reviewed.
    const file = await write('swapped.json', JSON.stringify({ [id(ME)]: MUTATION }));
    const message = refusal([file]);
    expect(message).toContain('TRUSTED_DOCUMENTS');
    expect(message).toContain('is not the SHA-256 of its document');
    expect(message).not.toContain('Swapped');
  });

  it('refuses ids of another hash, documents the schema does not have, unreadable files and empty manifests', async () => {
    const sha1 = createHash('sha1').update(ME).digest('hex');
    expect(refusal([await write('sha1.json', JSON.stringify({ [sha1]: ME }))])).toContain('hashAlgorithm (sha256)');
    const stale = 'query Stale { me { nickname } }';
    const staleMessage = refusal([await write('stale.json', manifestOf(stale))]);
    expect(staleMessage).toContain('Stale');
    expect(staleMessage).toContain('does not match the schema');
    expect(refusal([join(dir, 'missing.json')])).toContain('ENOENT');
    expect(refusal([await write('list.json', '[]')])).toContain('not a JSON object');
    expect(refusal([await write('empty.json', '{}')])).toContain('no document');
    // Several manifests (one per client) merge.
    const other = await write('other.json', manifestOf('query Other { me { id } }'));
    expect(loadTrustedDocuments([manifest, other], buildSchema()).size).toBe(4);
  });

  it('stops createGateway before it touches the database', async () => {
    const file = await write('bad.json', JSON.stringify({ [id(ME)]: MUTATION }));
    const config = loadConfig({ LOG_LEVEL: 'silent', TRUSTED_DOCUMENTS: file, SECRETS_KEY: 'k'.repeat(32) });
    // Port 1 on 127.0.0.1: nothing answers, so reaching the database would fail differently.
    await expect(createGateway(config, 'postgres://nobody@127.0.0.1:1/none')).rejects.toThrow(
      'is not the SHA-256 of its document',
    );
  });
});

describe('a known document is parsed never and validated once', () => {
  it('hands yoga the start-up DocumentNode, whose validation yoga caches', async () => {
    const schema = createSchema({
      typeDefs: 'type Query { hello: String }',
      resolvers: { Query: { hello: () => 'hi' } },
    });
    const text = 'query Hello { hello }';
    const documents = loadTrustedDocuments([await writeManifest(text)], schema);
    const counts = { parse: 0, validate: 0 };
    // Counts the real parses and validation runs behind every cache (a rule runs only when validate does).
    const countingRule: ValidationRule = () => {
      counts.validate++;
      return {};
    };
    const counting: Plugin = {
      onParse({ parseFn, setParseFn }) {
        setParseFn((...args) => {
          counts.parse++;
          return parseFn(...args);
        });
      },
      onValidate({ addValidationRule }) {
        addValidationRule(countingRule);
      },
    };
    const yoga = createYoga({ schema, plugins: [useTrustedDocuments(documents, { only: false }), counting] });
    const send = async (body: Record<string, unknown>) => {
      const res = await yoga.fetch('http://yoga/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Body;
    };
    // The counters count: text is parsed and validated (once, then yoga's caches answer).
    for (let i = 0; i < 3; i++) expect((await send({ query: '{ hello }' })).data).toEqual({ hello: 'hi' });
    expect(counts).toEqual({ parse: 1, validate: 1 });
    for (let i = 0; i < 5; i++) expect((await send(byId(id(text)))).data).toEqual({ hello: 'hi' });
    expect(counts).toEqual({ parse: 1, validate: 2 });
  });
});

async function writeManifest(...texts: string[]): Promise<string> {
  const file = join(dir, `m-${randomBytes(4).toString('hex')}.json`);
  await writeFile(file, manifestOf(...texts));
  return file;
}
