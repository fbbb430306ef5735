import { fileURLToPath } from 'node:url';
import { printSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadApp } from '../../src/app-loader.js';
import { buildSchema } from '../../src/graphql/index.js';
import { startTestGateway, type TestGateway, type TestSession } from '../../src/testing/index.js';
import { codeOf } from '../helpers.js';

/**
 * An app's own table and types on authgate (test/fixtures/notes: its config, drizzle schema
 * with policies, migrations and Pothos fields), through the package's own testing helper.
 * The published package is exercised the same way by the example app's tests.
 */

const CONFIG = fileURLToPath(new URL('../fixtures/notes/authgate.config.ts', import.meta.url));

let t: TestGateway;
let alice: TestSession;
let bob: TestSession;
const queries: string[] = [];
/** The statements sent per event-loop turn: one round trip each, as bench/run.ts counts them. */
let batches: string[][] = [];
let batchOpen = false;

beforeAll(async () => {
  t = await startTestGateway({
    adminUrl: inject('adminUrl'),
    app: await loadApp({ configFile: CONFIG }),
    onQuery: (q) => {
      queries.push(q);
      if (!batchOpen) {
        batches.push([]);
        batchOpen = true;
        setImmediate(() => {
          batchOpen = false;
        });
      }
      batches.at(-1)!.push(q.replace(/\s+/g, ' ').trim());
    },
  });
  alice = await t.signUp();
  bob = await t.signUp();
});
afterAll(async () => {
  await t?.close();
});

const CREATE =
  'mutation C($title: String!, $isPublic: Boolean) { createNote(title: $title, isPublic: $isPublic) { id } }';
const NOTES = '{ notes(first: 50) { edges { node { id title ownerId } } } }';
const titles = (res: { data?: { notes: { edges: Array<{ node: { title: string } }> } } | null }) =>
  res.data!.notes.edges.map((e) => e.node.title).sort();

describe('an app built on authgate', () => {
  it('serves its types beside ours in one schema', () => {
    const sdl = printSchema(buildSchema());
    expect(sdl).toContain('type Note {');
    expect(sdl).toMatch(/type Profile \{[^}]*notes\(first: Int = 5\): \[Note!\]!/);
    expect(sdl).toMatch(/type User \{[^}]*notes\(first: Int = 5\): \[Note!\]!/);
    expect(sdl).toContain('createNote(');
  });

  it('applies its migrations after ours, in a journal of its own', async () => {
    const [table] =
      await t.admin`select relrowsecurity, relforcerowsecurity from pg_class where oid = 'public.notes'::regclass`;
    expect(table).toEqual({ relrowsecurity: true, relforcerowsecurity: true });
    const journals = await t.admin`select table_name from information_schema.tables
      where table_schema = 'drizzle' order by table_name`;
    expect(journals.map((r) => r.table_name)).toEqual(['__app_notes_drizzle', '__drizzle_migrations']);
  });

  it("lets its policies decide: a private note is its owner's, a public one everyone's", async () => {
    expect((await t.gql(CREATE, { title: 'alice private' }, alice)).errors).toBeUndefined();
    expect((await t.gql(CREATE, { title: 'alice public', isPublic: true }, alice)).errors).toBeUndefined();
    expect((await t.gql(CREATE, { title: 'bob private' }, bob)).errors).toBeUndefined();
    expect(titles(await t.gql(NOTES, {}, alice))).toEqual(['alice private', 'alice public']);
    expect(titles(await t.gql(NOTES, {}, bob))).toEqual(['alice public', 'bob private']);
    expect(titles(await t.gql(NOTES))).toEqual(['alice public']);
    // Anon may not write at all, and nobody writes as someone else.
    expect(codeOf(await t.gql(CREATE, { title: 'anon' }))).toBe('UNAUTHENTICATED');
    // And as the request path's login role, SQL sees no note without claims.
    expect(await t.loginRole`select count(*)::int n from public.notes`.catch((e: { code: string }) => e.code)).toBe(
      '42501',
    );
  });

  it('reads nested app fields in one batched query inside the request transaction', async () => {
    queries.length = 0;
    type Page = {
      profiles: { edges: Array<{ node: { id: string; notes: Array<{ title: string }> } }> };
      me: { notes: Array<{ title: string }> };
    };
    const res = await t.gql<Page>(
      '{ profiles(first: 20) { edges { node { id notes { title } } } } me { notes { title } } }',
      {},
      alice,
    );
    expect(res.errors).toBeUndefined();
    const mine = res.data!.profiles.edges.find((e) => e.node.id === alice.userId);
    expect(mine!.node.notes.map((n) => n.title).sort()).toEqual(['alice private', 'alice public']);
    expect(res.data!.me.notes).toHaveLength(2);
    const noteQueries = queries.filter((q) => /from "notes"/.test(q));
    expect(noteQueries).toHaveLength(1);
    // One transaction: BEGIN, the identity statement, our reads, the app's read, COMMIT.
    expect(queries.filter((q) => q === 'begin')).toHaveLength(1);
  });

  it("gives each owner's newest `first` notes, 1..100", async () => {
    const s = await t.signUp();
    for (let i = 1; i <= 7; i++) await t.gql(CREATE, { title: `n${i}` }, s);
    const mine = async (first?: number) => {
      const res = await t.gql<{ me: { notes: Array<{ title: string }> } }>(
        `{ me { notes${first === undefined ? '' : `(first: ${first})`} { title } } }`,
        {},
        s,
      );
      return res.errors ? codeOf(res) : res.data!.me.notes.map((n) => n.title);
    };
    expect(await mine()).toEqual(['n7', 'n6', 'n5', 'n4', 'n3']);
    expect(await mine(2)).toEqual(['n7', 'n6']);
    expect(await mine(100)).toEqual(['n7', 'n6', 'n5', 'n4', 'n3', 'n2', 'n1']);
    expect(await mine(0)).toBe('BAD_USER_INPUT');
    expect(await mine(101)).toBe('BAD_USER_INPUT');
    // Two sizes in one request: still one query, each field its own length.
    queries.length = 0;
    const both = await t.gql<{ me: { a: Array<{ title: string }>; b: Array<{ title: string }> } }>(
      '{ me { a: notes(first: 1) { title } b: notes(first: 3) { title } } }',
      {},
      s,
    );
    expect(both.data!.me.a.map((n) => n.title)).toEqual(['n7']);
    expect(both.data!.me.b.map((n) => n.title)).toEqual(['n7', 'n6', 'n5']);
    expect(queries.filter((q) => /from "notes"/.test(q))).toHaveLength(1);
  });

  it('serves profiles with their notes and me { notes } in 2 round trips on the critical path', async () => {
    // More than a page of profiles, each owner with notes, so the batch spans 21 owners.
    const others = await Promise.all(Array.from({ length: 21 }, () => t.signUp()));
    for (const s of others) await t.gql(CREATE, { title: `note of ${s.userId}`, isPublic: true }, s);
    const doc =
      '{ profiles(first: 20) { edges { node { id username notes(first: 5) { id title } } } } me { id notes(first: 5) { id title } } }';
    type Doc = {
      profiles: { edges: Array<{ node: { id: string; notes: Array<{ title: string }> } }> };
      me: { id: string; notes: Array<{ title: string }> };
    };
    // A statement new to a connection waits for its Describe before anything else goes out on
    // it (one extra round trip, once per connection), so every connection of the pool is warmed
    // first: ten requests at once take all ten (DB_POOL_MAX), then some in turn. In turn alone
    // was not enough on a busy machine, where a COMMIT still in flight sends the next request
    // to a connection that had not seen the statement yet.
    for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 10 }, () => t.gql(doc, {}, alice)));
    for (let i = 0; i < 12; i++) await t.gql(doc, {}, alice);
    // Without the viewer's notes joining the page's batch, `me.notes` went out as a query of its
    // own in about one request in five ([4, 1, 1, 1]); ten tries catch that almost surely.
    for (let i = 0; i < 10; i++) {
      batches = [];
      const res = await t.gql<Doc>(doc, {}, alice);
      expect(res.errors).toBeUndefined();
      expect(res.data!.profiles.edges).toHaveLength(20);
      expect(res.data!.profiles.edges.every((e) => e.node.notes.length === 1)).toBe(true);
      expect(res.data!.me.notes.map((n) => n.title).sort()).toEqual(['alice private', 'alice public']);
      await new Promise((r) => setTimeout(r, 30)); // the COMMIT the answer did not wait for
      // 1: BEGIN, the identity statement, the profiles page and the me row, in one turn;
      // 2: the notes of all 21 owners (the page's and the viewer's) in one query;
      // then COMMIT, which the answer does not wait for.
      expect(
        batches.map((b) => b.length),
        JSON.stringify(batches),
      ).toEqual([4, 1, 1]);
      expect(batches[0]![0]).toBe('begin');
      expect(batches[0]!.filter((q) => /from public\.profiles/.test(q))).toHaveLength(1);
      expect(batches[0]!.filter((q) => /auth\.visible_users/.test(q))).toHaveLength(1);
      expect(batches[1]![0]).toMatch(/^select .* row_number\(\) over \(partition by "owner_id" .* from "notes"/);
      expect(batches[2]).toEqual(['commit']);
    }
  });

  it('stops note access on the next request after sign-out', async () => {
    const s = await t.signUp();
    await t.gql(CREATE, { title: 'short-lived' }, s);
    expect(titles(await t.gql(NOTES, {}, s))).toContain('short-lived');
    expect((await t.gql('mutation { signOut }', {}, s)).errors).toBeUndefined();
    expect(codeOf(await t.gql(NOTES, {}, s))).toBe('UNAUTHENTICATED');
  });

  it('gives resolvers no way to schema auth or past their request', async () => {
    expect((await t.gql('{ probeAuthUsers }', {}, alice)).data).toEqual({ probeAuthUsers: '42501' });
    expect((await t.gql('{ stashDb }', {}, alice)).data).toEqual({ stashDb: true });
    // ctx.db kept from a finished request fails loudly instead of running outside any transaction.
    expect((await t.gql('{ useStashedDb }', {}, alice)).data).toEqual({ useStashedDb: 'RequestFinishedError' });
    // A query prepared once for the process runs on a kept ctx.db no more than ctx.db itself does.
    expect((await t.gql('{ useStashedDbPrepared }', {}, alice)).data).toEqual({
      useStashedDbPrepared: 'RequestFinishedError',
    });
  });

  it("runs a query prepared once for the process on each request's own transaction", async () => {
    // Two callers at once, each with a private note: the one built query, run concurrently for
    // both, shows each caller its own private note and not the other's (RLS per request).
    const [a, b] = await Promise.all([t.signUp(), t.signUp()]);
    await t.gql(CREATE, { title: 'a secret' }, a);
    await t.gql(CREATE, { title: 'b secret' }, b);
    const doc = '{ me { notes(first: 5) { title } } }';
    type Doc = { me: { notes: Array<{ title: string }> } };
    const rounds = await Promise.all(Array.from({ length: 10 }, (_, i) => t.gql<Doc>(doc, {}, i % 2 === 0 ? a : b)));
    rounds.forEach((res, i) => {
      expect(res.errors).toBeUndefined();
      expect(res.data!.me.notes.map((n) => n.title)).toEqual([i % 2 === 0 ? 'a secret' : 'b secret']);
    });
    // Built once however many requests ran it.
    expect((await t.gql<{ notesQueryBuilds: number }>('{ notesQueryBuilds }', {}, a)).data).toEqual({
      notesQueryBuilds: 1,
    });
  });
});
