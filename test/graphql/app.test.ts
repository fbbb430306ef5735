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

beforeAll(async () => {
  t = await startTestGateway({
    adminUrl: inject('adminUrl'),
    app: await loadApp({ configFile: CONFIG }),
    onQuery: (q) => queries.push(q),
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
    expect(sdl).toMatch(/type Profile \{[^}]*notes: \[Note!\]!/);
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
  });
});
