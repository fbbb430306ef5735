import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloClient, gql, InMemoryCache } from '@apollo/client';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createAuthClient, errorCode, memoryStorage } from '@authgate/client';
import { authgateLink } from '@authgate/client/apollo';
import { authgateExchange } from '@authgate/client/urql';
import { Client, cacheExchange, fetchExchange } from '@urql/core';
import { parse, print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { email, PASSWORD, startGateway, type TestGateway } from '../helpers.js';

// urql and Apollo in Node on the package's adapters, against a gateway that runs trusted documents
// only: the adapters leave the body alone, so a persisted-query link's ids pass through, and a
// request with text is refused with a code the adapters surface. (The browser test runs the same
// recipes in Chromium, with a refused token and its renewal.)

// With __typename written out, Apollo's cache adds nothing to the document it hashes.
const ME = 'query ClientsMe { me { id email __typename } }';
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const work = mkdtempSync(join(tmpdir(), 'authgate-clients-'));
const manifest = join(work, 'app.json');
// Apollo hashes the document as graphql's print() writes it.
const PRINTED = print(parse(ME));
writeFileSync(manifest, JSON.stringify({ [`sha256:${sha(ME)}`]: ME, [`sha256:${sha(PRINTED)}`]: PRINTED }));
const packageManifest = fileURLToPath(new URL('../../packages/client/persisted-documents.json', import.meta.url));

let t: TestGateway;
const bodies: string[] = [];
const bearers: (string | null)[] = [];
const recording: typeof fetch = (input, init) => {
  bearers.push(new Headers(init?.headers).get('authorization'));
  bodies.push(typeof init?.body === 'string' ? init.body : `${init?.method ?? 'GET'} ${String(input)}`);
  return fetch(input, init);
};

beforeAll(async () => {
  t = await startGateway({ TRUSTED_DOCUMENTS: `${manifest},${packageManifest}`, TRUSTED_DOCUMENTS_ONLY: 'true' });
});
afterAll(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the urql exchange and the Apollo link, with trusted documents only', () => {
  it("the client's own operations run by id (its manifest beside the app's)", async () => {
    const auth = createAuthClient({ url: t.url, storage: memoryStorage(), persistedDocuments: true, fetch: recording });
    const mail = email('clients');
    await auth.signUp({ email: mail, password: PASSWORD });
    expect(auth.session?.user.email).toBe(mail);
    expect(bodies.some((b) => b.includes('"query"'))).toBe(false);
  });

  it("Apollo's persisted-query link sends the id alone through authgateLink, with the bearer", async () => {
    const auth = createAuthClient({ url: t.url, storage: memoryStorage(), persistedDocuments: true, fetch: recording });
    const session = await auth.signUp({ email: email('apollo'), password: PASSWORD });
    const apollo = new ApolloClient({
      link: createPersistedQueryLink({ sha256: sha, useGETForHashedQueries: false }).concat(authgateLink(auth)),
      cache: new InMemoryCache(),
    });
    bodies.length = 0;
    bearers.length = 0;
    const { data } = await apollo.query<{ me: { id: string; email: string } }>({ query: gql(ME) });
    expect(data?.me.id).toBe(session.user.id);
    expect(bodies).toHaveLength(1);
    expect(JSON.parse(bodies[0]!)).toMatchObject({ extensions: { persistedQuery: { sha256Hash: sha(PRINTED) } } });
    expect(bodies[0]).not.toContain('"query"');
    expect(bearers).toEqual([`Bearer ${session.accessToken}`]);
  });

  it('urql through authgateExchange: text is refused with a code errorCode reads from the CombinedError', async () => {
    const auth = createAuthClient({ url: t.url, storage: memoryStorage(), persistedDocuments: true, fetch: recording });
    await auth.signUp({ email: email('urql'), password: PASSWORD });
    const urql = new Client({
      url: t.url,
      exchanges: [cacheExchange, authgateExchange(auth), fetchExchange],
      preferGetMethod: false,
    });
    const result = await urql.query(ME, {}).toPromise();
    expect(result.data).toBeUndefined();
    expect(errorCode(result.error)).toBe('FORBIDDEN');
    expect(result.error?.graphQLErrors[0]?.extensions.reason).toBe('PERSISTED_DOCUMENT_REQUIRED');
  });
});
