import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestGateway, stopTestPostgres, type TestGateway, type TestSession } from 'authgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateNoteDocument, MyNotesDocument, NotesPageDocument, ShareNoteDocument } from '../src/client/documents.ts';
import type { NotesPageQuery } from '../src/client/gql/graphql.ts';
import { RequestError, request } from '../src/client/request.ts';

// The notes app on a real gateway and a real Postgres (embedded, started once for this file
// by authgate/testing), through HTTP as a client sends it and through SQL as an attacker
// holding the gateway's login role would. Each user below is a real sign-up.

const CONFIG = fileURLToPath(new URL('./authgate.config.ts', import.meta.url));

let t: TestGateway;
let alice: TestSession;
let bob: TestSession;
let carol: TestSession;
const statements: string[] = [];

beforeAll(async () => {
  t = await startTestGateway({ app: CONFIG, onQuery: (q) => statements.push(q) });
  [alice, bob, carol] = [await t.signUp(), await t.signUp(), await t.signUp()];
});
afterAll(async () => {
  await t?.close();
  await stopTestPostgres();
});

const CREATE = `mutation ($input: CreateNoteInput!) { createNote(input: $input) { id title isPublic } }`;
const NOTE = `query ($id: ID!) { note(id: $id) { id title body isPublic shares { userId canEdit } } }`;
const UPDATE = `mutation ($id: ID!, $input: UpdateNoteInput!) { updateNote(id: $id, input: $input) { id title body isPublic } }`;
const DELETE = `mutation ($id: ID!) { deleteNote(id: $id) }`;
const SHARE = `mutation ($noteId: ID!, $userId: ID!, $canEdit: Boolean) {
  shareNote(noteId: $noteId, userId: $userId, canEdit: $canEdit) { noteId userId canEdit } }`;
const TITLES = `{ notes(first: 100) { edges { node { title } } } }`;

type Gql = Awaited<ReturnType<TestGateway['gql']>>;
const code = (res: Gql) => res.errors?.[0]?.extensions?.code;
const titles = async (as?: TestSession) => {
  const res = await t.gql<{ notes: { edges: Array<{ node: { title: string } }> } }>(TITLES, {}, as);
  expect(res.errors).toBeUndefined();
  return res.data!.notes.edges.map((e) => e.node.title).sort();
};
async function create(as: TestSession, title: string, isPublic = false): Promise<string> {
  const res = await t.gql<{ createNote: { id: string } }>(CREATE, { input: { title, isPublic } }, as);
  expect(res.errors).toBeUndefined();
  return res.data!.createNote.id;
}

/** A query as the login role with the claims of `as` set, as every request's first statement does. */
async function sqlAs<T>(as: TestSession | null, query: string): Promise<T[]> {
  return t.loginRole.begin(async (tx) => {
    const claims = as ? { sub: as.userId, role: 'authenticated' } : { role: 'anon' };
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true), set_config('role', ${claims.role}, true)`;
    return (await tx.unsafe(query)) as unknown as T[];
  }) as Promise<T[]>;
}

describe('notes: who sees what', () => {
  let alicePrivate: string;
  let alicePublic: string;

  beforeAll(async () => {
    alicePrivate = await create(alice, 'alice private');
    alicePublic = await create(alice, 'alice public', true);
    await create(bob, 'bob private');
  });

  it("hides another user's private notes through GraphQL", async () => {
    expect(await titles(alice)).toEqual(expect.arrayContaining(['alice private', 'alice public']));
    expect(await titles(bob)).not.toContain('alice private');
    expect(await titles(bob)).toContain('alice public');
    // Asked for by id, a hidden note reads exactly like one that does not exist.
    expect((await t.gql(NOTE, { id: alicePrivate }, bob)).data).toEqual({ note: null });
    expect((await t.gql(NOTE, { id: crypto.randomUUID() }, bob)).data).toEqual({ note: null });
    // Nor can bob change or delete it, and the answer does not tell him it exists.
    expect(code(await t.gql(UPDATE, { id: alicePrivate, input: { title: 'mine now' } }, bob))).toBe('FORBIDDEN');
    expect(code(await t.gql(DELETE, { id: alicePrivate }, bob))).toBe('FORBIDDEN');
    expect(code(await t.gql(SHARE, { noteId: alicePrivate, userId: carol.userId }, bob))).toBe('FORBIDDEN');
    expect((await t.gql(NOTE, { id: alicePrivate }, alice)).data?.note).toMatchObject({ title: 'alice private' });
  });

  it('hides them through SQL as the login role too: claims decide, not the resolvers', async () => {
    type Row = { title: string };
    const asBob = await sqlAs<Row>(bob, 'select title from public.notes order by title');
    expect(asBob.map((r) => r.title)).not.toContain('alice private');
    expect(asBob.map((r) => r.title)).toContain('bob private');
    const asAnon = await sqlAs<Row>(null, 'select title from public.notes');
    expect(asAnon.every((r) => r.title.endsWith('public'))).toBe(true);
    // Without claims or a role the login role itself reaches no note at all.
    const bare = await t.loginRole`select count(*) from public.notes`.catch((e: { code?: string }) => e.code);
    expect(bare).toBe('42501');
    // And bob cannot hand a note to himself through SQL either.
    const moved = await sqlAs(bob, `update public.notes set owner_id = '${bob.userId}' returning id`).catch(
      (e: { code?: string }) => e.code,
    );
    expect(moved).toBe('42501');
  });

  it('shows anon only public notes', async () => {
    expect(await titles()).toEqual(expect.arrayContaining(['alice public']));
    expect((await titles()).every((title) => title.endsWith('public'))).toBe(true);
    expect((await t.gql(NOTE, { id: alicePrivate })).data).toEqual({ note: null });
    expect((await t.gql(NOTE, { id: alicePublic })).data?.note).toMatchObject({ title: 'alice public' });
    expect(code(await t.gql(CREATE, { input: { title: 'anon' } }))).toBe('UNAUTHENTICATED');
    const profile = await t.gql<{ profile: { notes: Array<{ title: string }> } | null }>(
      `query ($id: ID!) { profile(id: $id) { notes { title } } }`,
      { id: alice.userId },
    );
    expect(profile.errors).toBeUndefined();
    for (const n of profile.data?.profile?.notes ?? []) expect(n.title).toBe('alice public');
  });

  it('refuses bad input with a coded error and changes nothing', async () => {
    const before = await titles(alice);
    const empty = await t.gql(CREATE, { input: { title: '   ' } }, alice);
    expect(code(empty)).toBe('BAD_USER_INPUT');
    expect(empty.errors?.[0]?.extensions?.field).toBe('title');
    expect(code(await t.gql(NOTE, { id: 'not-a-uuid' }, alice))).toBe('BAD_USER_INPUT');
    expect(code(await t.gql(UPDATE, { id: alicePrivate, input: {} }, alice))).toBe('BAD_USER_INPUT');
    expect(await titles(alice)).toEqual(before);
  });
});

describe('notes: sharing', () => {
  it('a share grants read; edit only with canEdit, and never publishing or deleting', async () => {
    const id = await create(alice, 'shared draft');
    expect((await t.gql(NOTE, { id }, bob)).data).toEqual({ note: null });

    const share = await t.gql(SHARE, { noteId: id, userId: bob.userId }, alice);
    expect(share.data).toEqual({ shareNote: { noteId: id, userId: bob.userId, canEdit: false } });
    expect((await t.gql(NOTE, { id }, bob)).data?.note).toMatchObject({
      title: 'shared draft',
      // A sharee sees their own share, not who else it went to.
      shares: [{ userId: bob.userId, canEdit: false }],
    });
    expect((await t.gql(NOTE, { id }, carol)).data).toEqual({ note: null });
    expect(code(await t.gql(UPDATE, { id, input: { body: 'by bob' } }, bob))).toBe('FORBIDDEN');

    expect((await t.gql(SHARE, { noteId: id, userId: bob.userId, canEdit: true }, alice)).errors).toBeUndefined();
    const edited = await t.gql(UPDATE, { id, input: { body: 'by bob' } }, bob);
    expect(edited.errors).toBeUndefined();
    expect(edited.data).toMatchObject({ updateNote: { body: 'by bob', isPublic: false } });
    // Editing is not owning: no publishing, no deleting, no sharing further.
    expect(code(await t.gql(UPDATE, { id, input: { isPublic: true } }, bob))).toBe('FORBIDDEN');
    expect(code(await t.gql(DELETE, { id }, bob))).toBe('FORBIDDEN');
    expect(code(await t.gql(SHARE, { noteId: id, userId: carol.userId }, bob))).toBe('FORBIDDEN');
    expect((await t.gql(NOTE, { id }, carol)).data).toEqual({ note: null });
    expect((await t.gql(NOTE, { id }, alice)).data?.note).toMatchObject({ body: 'by bob', isPublic: false });

    // Taken back: bob reads nothing on his next request.
    const unshare = await t.gql(
      `mutation ($n: ID!, $u: ID!) { unshareNote(noteId: $n, userId: $u) }`,
      {
        n: id,
        u: bob.userId,
      },
      alice,
    );
    expect(unshare.data).toEqual({ unshareNote: true });
    expect((await t.gql(NOTE, { id }, bob)).data).toEqual({ note: null });
  });

  it('deleting a note takes its shares with it', async () => {
    const id = await create(alice, 'to delete');
    await t.gql(SHARE, { noteId: id, userId: carol.userId }, alice);
    expect((await t.gql(DELETE, { id }, alice)).data).toEqual({ deleteNote: id });
    expect((await t.gql(NOTE, { id }, carol)).data).toEqual({ note: null });
    const [left] = await t.admin`select count(*)::int as n from public.note_shares where note_id = ${id}`;
    expect(left!.n).toBe(0);
  });
});

describe('notes: revocation on the next request', () => {
  it('sign-out ends note access', async () => {
    const s = await t.signUp();
    await create(s, 'before sign-out');
    expect((await t.gql('mutation { signOut }', {}, s)).errors).toBeUndefined();
    expect(code(await t.gql(TITLES, {}, s))).toBe('UNAUTHENTICATED');
  });

  it('a ban ends note access', async () => {
    const s = await t.signUp();
    await create(s, 'before the ban');
    await t.admin`update auth.users set banned_until = now() + interval '1 hour' where id = ${s.userId}`;
    expect(code(await t.gql(TITLES, {}, s))).toBe('UNAUTHENTICATED');
    expect(code(await t.gql(CREATE, { input: { title: 'after the ban' } }, s))).toBe('UNAUTHENTICATED');
    const [n] = await t.admin`select count(*)::int as n from public.notes where owner_id = ${s.userId}`;
    expect(n!.n).toBe(1);
  });
});

describe("notes: what a resolver's ctx can reach", () => {
  it('only the request transaction, as the request role; never the auth pool', async () => {
    const res = await t.gql<{ ctxProbe: { clients: string[]; setRoleAuth: string; currentUser: string } }>(
      '{ ctxProbe }',
      {},
      alice,
    );
    expect(res.errors).toBeUndefined();
    const probe = res.data!.ctxProbe;
    const loginRole = t.loginRole.options.user;
    // Every Postgres client reachable from ctx connects as the login role, never as a role
    // that reaches schema auth.
    expect(probe.clients.length).toBeGreaterThan(0);
    expect(probe.clients.every((user) => user === loginRole)).toBe(true);
    expect(probe.currentUser).toBe('authenticated');
    expect(probe.setRoleAuth).toBe('42501');
    // Nor can a resolver's SQL read the auth schema's secrets.
    const secrets = await sqlAs(alice, 'select encrypted_password from auth.users').catch(
      (e: { code?: string }) => e.code,
    );
    expect(secrets).toBe('42501');
  });
});

describe('notes: lists, pages and batching', () => {
  it('pages notes(first, after) newest first without gaps or repeats', async () => {
    const s = await t.signUp();
    for (let i = 1; i <= 5; i++) await create(s, `page ${i}`, false);
    const seen: string[] = [];
    let after: string | null | undefined = null;
    for (let page = 0; page < 10; page++) {
      const data: NotesPageQuery = await request(t.url, NotesPageDocument, { first: 2, after }, s.accessToken);
      seen.push(...data.notes.edges.map((e) => e.node.title));
      if (!data.notes.pageInfo.hasNextPage) break;
      after = data.notes.pageInfo.endCursor;
    }
    // Theirs and everyone's public notes; theirs newest first, each once.
    const mine = seen.filter((title) => title.startsWith('page '));
    expect(mine).toEqual(['page 5', 'page 4', 'page 3', 'page 2', 'page 1']);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('answers profiles with their notes and me { notes } with one notes query, in the request transaction', async () => {
    const owners = await Promise.all([t.signUp(), t.signUp(), t.signUp()]);
    for (const o of owners) await create(o, `public of ${o.userId}`, true);
    statements.length = 0;
    const res = await t.gql<{
      profiles: { edges: Array<{ node: { id: string; notes: Array<{ title: string }> } }> };
      me: { notes: Array<{ title: string }> };
    }>(
      '{ profiles(first: 20) { edges { node { id notes(first: 2) { title } } } } me { notes(first: 2) { title } } }',
      {},
      alice,
    );
    expect(res.errors).toBeUndefined();
    for (const o of owners) {
      const edge = res.data!.profiles.edges.find((e) => e.node.id === o.userId);
      expect(edge?.node.notes).toEqual([{ title: `public of ${o.userId}` }]);
    }
    expect(res.data!.me.notes).toHaveLength(2);
    // One BEGIN for everything; the notes of every profile in at most two batched queries
    // (me's row may land a moment after the page's, and its notes then go in a second one).
    expect(statements.filter((q) => q === 'begin')).toHaveLength(1);
    expect(statements.filter((q) => /from "notes"/.test(q)).length).toBeLessThanOrEqual(2);
  });

  it('runs the generated, typed documents', async () => {
    const s = await t.signUp();
    const { createNote } = await request(t.url, CreateNoteDocument, { input: { title: 'typed' } }, s.accessToken);
    expect(createNote.isPublic).toBe(false);
    const shared = await request(
      t.url,
      ShareNoteDocument,
      { noteId: createNote.id, userId: alice.userId, canEdit: true },
      s.accessToken,
    );
    expect(shared.shareNote.canEdit).toBe(true);
    const { me } = await request(t.url, MyNotesDocument, { first: 5 }, s.accessToken);
    expect(me?.notes).toEqual([
      { id: createNote.id, title: 'typed', isPublic: false, shares: [{ userId: alice.userId, canEdit: true }] },
    ]);
    // A coded error reaches the typed client as a RequestError.
    const refused = await request(t.url, CreateNoteDocument, { input: { title: '' } }, s.accessToken).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(RequestError);
    expect((refused as RequestError).errors[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('notes: the RLS doctor', () => {
  /** `npx authgate doctor` on this gateway's database: its exit code and report. */
  const doctor = () =>
    promisify(execFile)('npx', ['authgate', 'doctor'], {
      env: { ...process.env, DATABASE_URL: t.dbUrl },
      timeout: 60_000,
    }).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      (err: { code?: number; stdout?: string }) => ({ code: err.code, out: err.stdout ?? '' }),
    );

  it("finds nothing to fix in this app's tables, and flags one without row level security", async () => {
    expect(await doctor()).toEqual({ code: 0, out: expect.stringContaining('no findings') });
    await t.admin`create table public.leaky (id int primary key, secret text)`;
    await t.admin`grant select on public.leaky to anon`;
    try {
      const found = await doctor();
      expect(found.code).toBe(1);
      expect(found.out).toContain('public.leaky');
    } finally {
      await t.admin`drop table public.leaky`;
    }
  });
});
