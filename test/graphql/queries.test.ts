import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, type Session, signUp, startGateway, type TestGateway } from '../helpers.js';

let t: TestGateway;
beforeAll(async () => {
  // This file signs up many users from one IP; rate limits are another file's concern.
  t = await startGateway({
    RATE_LIMIT_SIGNUP_IP_MAX: '0',
    RATE_LIMIT_TOKEN_IP_MAX: '0',
    RATE_LIMIT_SIGNIN_EMAIL_MAX: '0',
  });
});
afterAll(async () => {
  await t?.close();
});

const PROFILE_FIELDS = 'id username fullName avatarUrl website isPublic createdAt updatedAt';
const PROFILES = /* GraphQL */ `
  query Profiles($first: Int, $after: String) {
    profiles(first: $first, after: $after) {
      edges { cursor node { id isPublic createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;
const PROFILE_BY_ID = `query P($id: ID) { profile(id: $id) { ${PROFILE_FIELDS} } }`;
const PROFILE_BY_NAME = `query P($username: String) { profile(username: $username) { ${PROFILE_FIELDS} } }`;
const UPDATE = `mutation U($input: UpdateProfileInput!) { updateProfile(input: $input) { ${PROFILE_FIELDS} } }`;

/** A username no other test of this run holds. */
const uname = (prefix = 'u'): string => `${prefix}_${randomBytes(5).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Page = {
  edges: Array<{ cursor: string; node: { id: string; isPublic: boolean; createdAt: string } }>;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
};

async function page(first: number, after: string | null, token?: string): Promise<Page> {
  const res = await t.gql(PROFILES, { first, after }, token);
  expect(res.errors).toBeUndefined();
  return res.data!.profiles as Page;
}

/** Every page from the start, checking the relay invariants of each; bounded. */
async function pageAll(first: number, token?: string): Promise<{ ids: string[]; pages: Page[] }> {
  const pages: Page[] = [];
  let after: string | null = null;
  for (let i = 0; i < 200; i++) {
    const p = await page(first, after, token);
    pages.push(p);
    expect(p.pageInfo.hasPreviousPage).toBe(i > 0);
    expect(p.pageInfo.startCursor).toBe(p.edges[0]?.cursor ?? null);
    expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)?.cursor ?? null);
    expect(p.edges.length).toBeLessThanOrEqual(first);
    if (!p.pageInfo.hasNextPage) return { ids: pages.flatMap((x) => x.edges.map((e) => e.node.id)), pages };
    expect(p.edges).toHaveLength(first);
    after = p.pageInfo.endCursor;
  }
  throw new Error('profiles paging did not end within 200 pages');
}

/** What the caller may see per the contract (public rows + its own), newest first, via the superuser. */
async function visibleIds(viewerId: string | null): Promise<string[]> {
  const rows = await t.admin<{ id: string }[]>`
    select id from public.profiles
    where is_public or id = ${viewerId}::uuid
    order by created_at desc, id desc`;
  return rows.map((r) => r.id);
}

const profileRow = async (id: string) => {
  const [row] = await t.admin`select * from public.profiles where id = ${id}`;
  return row;
};

async function makePrivate(s: Session): Promise<void> {
  const res = await t.gql(UPDATE, { input: { isPublic: false } }, s.accessToken);
  expect(res.errors).toBeUndefined();
  expect(res.data!.updateProfile.isPublic).toBe(false);
}

describe('me', () => {
  it('is null without a token', async () => {
    const res = await t.gql('{ me { id } }');
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ me: null });
  });

  it('returns the caller with its metadata and profile', async () => {
    const username = uname('me');
    const s = await signUp(t, { username, full_name: 'Grace Hopper', theme: 'dark' });
    const res = await t.gql(
      '{ me { id email role userMetadata profile { id username fullName isPublic } } }',
      {},
      s.accessToken,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.me).toEqual({
      id: s.userId,
      email: s.email.toLowerCase(),
      role: 'authenticated',
      userMetadata: { username, full_name: 'Grace Hopper', theme: 'dark' },
      profile: { id: s.userId, username, fullName: 'Grace Hopper', isPublic: true },
    });
  });

  it('returns each caller itself, not another user', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const ra = await t.gql('{ me { id } }', {}, a.accessToken);
    const rb = await t.gql('{ me { id } }', {}, b.accessToken);
    expect(ra.data!.me.id).toBe(a.userId);
    expect(rb.data!.me.id).toBe(b.userId);
  });

  // me reads only the columns its selection needs; every way of selecting a field must still
  // find it in the row read.
  it('reads only the user columns the selection needs, and every field selected by fragment, alias or skip', async () => {
    const s = await signUp(t, { theme: 'dark' });
    const readsUsers = () => t.queries.filter((q) => q.includes('visible_users'));
    t.queries.length = 0;
    const small = await t.gql('{ me { id email __typename } }', {}, s.accessToken);
    expect(small.errors).toBeUndefined();
    expect(small.data!.me).toEqual({ id: s.userId, email: s.email.toLowerCase(), __typename: 'User' });
    expect(readsUsers()).toHaveLength(1);
    expect(readsUsers()[0]).not.toMatch(/user_metadata|created_at/);

    const res = await t.gql(
      /* GraphQL */ `
        query Q($no: Boolean!) {
          me {
            ...Account
            ... on User { createdAt isAnonymous }
            meta: userMetadata
            role @skip(if: $no)
            profile { id }
          }
          again: me { emailConfirmedAt pendingEmail appMetadata lastSignInAt }
        }
        fragment Account on User { id ...Email }
        fragment Email on User { email }`,
      { no: false },
      s.accessToken,
    );
    expect(res.errors).toBeUndefined();
    const me = res.data!.me;
    expect(me).toMatchObject({ id: s.userId, email: s.email.toLowerCase(), role: 'authenticated', isAnonymous: false });
    expect(me.meta).toMatchObject({ theme: 'dark' });
    expect(me.profile).toEqual({ id: s.userId });
    expect(Date.parse(me.createdAt)).toBeGreaterThan(0);
    expect(res.data!.again).toMatchObject({ pendingEmail: null, appMetadata: expect.any(Object) });
    expect(Date.parse(res.data!.again.lastSignInAt)).toBeGreaterThan(0);
  });
});

describe('profiles', () => {
  let viewer: Session;
  let hidden: Session[];

  beforeAll(async () => {
    const users = await Promise.all(Array.from({ length: 25 }, () => signUp(t)));
    // Some private profiles, the viewer's own among them, so RLS visibility matters.
    viewer = users[3]!;
    hidden = [users[3]!, users[10]!, users[17]!];
    for (const s of hidden) await makePrivate(s);
  });

  it('pages through every visible profile exactly once, newest first, as a signed-in user', async () => {
    const expected = await visibleIds(viewer.userId);
    expect(expected.length).toBeGreaterThanOrEqual(23);
    const { ids, pages } = await pageAll(10, viewer.accessToken);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expected);
    expect(pages).toHaveLength(Math.max(1, Math.ceil(expected.length / 10)));
    // Own private profile in, other people's private profiles out.
    expect(ids).toContain(viewer.userId);
    for (const s of hidden.slice(1)) expect(ids).not.toContain(s.userId);
    // createdAt never increases along the pages.
    const times = pages.flatMap((p) => p.edges.map((e) => new Date(e.node.createdAt).getTime()));
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeLessThanOrEqual(times[i - 1]!);
  });

  it('pages through only public profiles for anon', async () => {
    const expected = await visibleIds(null);
    const { ids, pages } = await pageAll(10);
    expect(ids).toEqual(expected);
    for (const s of hidden) expect(ids).not.toContain(s.userId);
    expect(pages.flatMap((p) => p.edges).every((e) => e.node.isPublic)).toBe(true);
  });

  it('gives the same order on every pass', async () => {
    const a = await pageAll(10, viewer.accessToken);
    const b = await pageAll(7, viewer.accessToken);
    const c = await pageAll(10, viewer.accessToken);
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).toEqual(a.ids);
    expect(c.pages.map((p) => p.pageInfo.endCursor)).toEqual(a.pages.map((p) => p.pageInfo.endCursor));
  });

  it('keeps later pages stable when a profile is created while paging', async () => {
    const snapshot = await visibleIds(viewer.userId);
    const first = await page(10, null, viewer.accessToken);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const newcomer = await signUp(t);
    const ids = first.edges.map((e) => e.node.id);
    let after = first.pageInfo.endCursor;
    for (let i = 0; i < 50 && after; i++) {
      const p = await page(10, after, viewer.accessToken);
      ids.push(...p.edges.map((e) => e.node.id));
      after = p.pageInfo.hasNextPage ? p.pageInfo.endCursor : null;
    }
    expect(ids).toEqual(snapshot);
    expect(ids).not.toContain(newcomer.userId);
    // A fresh first page shows the newcomer on top.
    expect((await page(1, null, viewer.accessToken)).edges[0]!.node.id).toBe(newcomer.userId);
  });

  it('pages without loss through profiles created in the same microsecond or microseconds apart', async () => {
    const users = await Promise.all(Array.from({ length: 12 }, () => signUp(t)));
    const ids = users.map((u) => u.userId);
    // Ties are broken by id, and cursors keep Postgres's microseconds (a millisecond cursor would skip or repeat).
    await t.admin`update public.profiles set created_at = '2001-02-03 04:05:06.789123+00' where id = any(${ids.slice(0, 6)}::uuid[])`;
    for (const [i, id] of ids.slice(6).entries()) {
      await t.admin`update public.profiles set created_at = ${`2001-02-03 04:05:06.78${9200 + i}+00`}::timestamptz where id = ${id}`;
    }
    const expected = await visibleIds(null);
    const { ids: seen } = await pageAll(4);
    expect(seen).toEqual(expected);
    for (const id of ids) expect(seen.filter((x) => x === id)).toHaveLength(1);
  });

  it('returns an empty last page with null cursors after the final cursor', async () => {
    const { pages } = await pageAll(10, viewer.accessToken);
    const end = pages.at(-1)!.pageInfo.endCursor;
    const past = await page(10, end, viewer.accessToken);
    expect(past.edges).toEqual([]);
    expect(past.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null });
  });

  it('defaults first to 20', async () => {
    const res = await t.gql('{ profiles { edges { node { id } } pageInfo { hasNextPage } } }', {}, viewer.accessToken);
    expect(res.errors).toBeUndefined();
    const total = (await visibleIds(viewer.userId)).length;
    expect(res.data!.profiles.edges).toHaveLength(Math.min(20, total));
    expect(res.data!.profiles.pageInfo.hasNextPage).toBe(total > 20);
  });

  it.each([0, -1, 101, 1000])('refuses first: %i with BAD_USER_INPUT', async (first) => {
    const res = await t.gql(PROFILES, { first }, viewer.accessToken);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.data?.profiles ?? null).toBeNull();
  });

  it('accepts first: 1 and first: 100', async () => {
    const total = (await visibleIds(viewer.userId)).length;
    const one = await page(1, null, viewer.accessToken);
    expect(one.edges).toHaveLength(1);
    expect(one.pageInfo.hasNextPage).toBe(total > 1);
    const hundred = await page(100, null, viewer.accessToken);
    expect(hundred.edges).toHaveLength(Math.min(100, total));
    expect(hundred.pageInfo.hasNextPage).toBe(total > 100);
  });

  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  it.each([
    ['not base64 JSON', 'garbage!!'],
    ['plain text', 'hello'],
    ['a JSON object', b64({ createdAt: '2024-01-01T00:00:00Z', id: '00000000-0000-4000-8000-000000000000' })],
    ['a non-uuid id', b64(['2024-01-01T00:00:00Z', 'nope'])],
    ['a non-date time', b64(['yesterday-ish', '00000000-0000-4000-8000-000000000000'])],
    ['an SQL fragment', b64(["2024-01-01'; drop table public.profiles; --", '00000000-0000-4000-8000-000000000000'])],
  ])('refuses an after cursor that is %s with BAD_USER_INPUT', async (_why, after) => {
    const res = await t.gql(PROFILES, { first: 5, after }, viewer.accessToken);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(await profileRow(viewer.userId)).toBeDefined();
  });
});

describe('profile privacy', () => {
  it('hides a private profile from anon and other users but not from its owner', async () => {
    const username = uname('priv');
    const owner = await signUp(t, { username });
    const other = await signUp(t);
    await makePrivate(owner);
    expect((await profileRow(owner.userId))?.is_public).toBe(false);

    for (const token of [undefined, other.accessToken]) {
      const all = await pageAll(100, token);
      expect(all.ids).not.toContain(owner.userId);
      const byId = await t.gql(PROFILE_BY_ID, { id: owner.userId }, token);
      expect(byId.errors).toBeUndefined();
      expect(byId.data!.profile).toBeNull();
      const byName = await t.gql(PROFILE_BY_NAME, { username }, token);
      expect(byName.errors).toBeUndefined();
      expect(byName.data!.profile).toBeNull();
    }

    const own = await pageAll(100, owner.accessToken);
    expect(own.ids).toContain(owner.userId);
    const byId = await t.gql(PROFILE_BY_ID, { id: owner.userId }, owner.accessToken);
    expect(byId.data!.profile).toMatchObject({ id: owner.userId, username, isPublic: false });
    const byName = await t.gql(PROFILE_BY_NAME, { username }, owner.accessToken);
    expect(byName.data!.profile).toMatchObject({ id: owner.userId, isPublic: false });
    const me = await t.gql('{ me { profile { id isPublic } } }', {}, owner.accessToken);
    expect(me.data!.me.profile).toEqual({ id: owner.userId, isPublic: false });
  });

  it('shows the profile to everyone again once it is made public', async () => {
    const owner = await signUp(t);
    await makePrivate(owner);
    expect((await t.gql(PROFILE_BY_ID, { id: owner.userId })).data!.profile).toBeNull();
    const res = await t.gql(UPDATE, { input: { isPublic: true } }, owner.accessToken);
    expect(res.data!.updateProfile.isPublic).toBe(true);
    expect((await t.gql(PROFILE_BY_ID, { id: owner.userId })).data!.profile?.id).toBe(owner.userId);
    expect((await pageAll(100)).ids).toContain(owner.userId);
  });

  it('does not let another user change a profile', async () => {
    const owner = await signUp(t, { full_name: 'Owner' });
    const other = await signUp(t);
    await t.gql(UPDATE, { input: { fullName: 'Mallory' } }, other.accessToken);
    expect((await profileRow(owner.userId))?.full_name).toBe('Owner');
    expect((await profileRow(other.userId))?.full_name).toBe('Mallory');
  });
});

describe('profile lookup', () => {
  it('finds a profile by id', async () => {
    const username = uname('byid');
    const s = await signUp(t, { username, website: 'https://example.org' });
    const res = await t.gql(PROFILE_BY_ID, { id: s.userId });
    expect(res.errors).toBeUndefined();
    expect(res.data!.profile).toMatchObject({ id: s.userId, username, website: 'https://example.org' });
  });

  it('finds a username in any case', async () => {
    const username = `Mixed_${randomBytes(4).toString('hex')}`;
    const s = await signUp(t, { username });
    for (const variant of [username, username.toLowerCase(), username.toUpperCase()]) {
      const res = await t.gql(PROFILE_BY_NAME, { username: variant });
      expect(res.errors).toBeUndefined();
      expect(res.data!.profile).toMatchObject({ id: s.userId, username });
    }
  });

  it('refuses both id and username with BAD_USER_INPUT', async () => {
    const username = uname('both');
    const s = await signUp(t, { username });
    const res = await t.gql('query P($id: ID, $u: String) { profile(id: $id, username: $u) { id } }', {
      id: s.userId,
      u: username,
    });
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.data?.profile ?? null).toBeNull();
  });

  it('refuses neither id nor username with BAD_USER_INPUT', async () => {
    expect(codeOf(await t.gql('{ profile { id } }'))).toBe('BAD_USER_INPUT');
    expect(codeOf(await t.gql('{ profile(id: null, username: null) { id } }'))).toBe('BAD_USER_INPUT');
  });

  it('returns null for an unknown id or username', async () => {
    const byId = await t.gql(PROFILE_BY_ID, { id: '00000000-0000-4000-8000-000000000000' });
    expect(byId.errors).toBeUndefined();
    expect(byId.data!.profile).toBeNull();
    const byName = await t.gql(PROFILE_BY_NAME, { username: uname('nobody') });
    expect(byName.errors).toBeUndefined();
    expect(byName.data!.profile).toBeNull();
  });
});

describe('updateProfile', () => {
  const seed = () => ({
    username: uname('upd'),
    full_name: 'Ada Lovelace',
    avatar_url: 'https://img.example/ada.png',
    website: 'https://ada.example',
  });

  it('changes only the fields given', async () => {
    const data = seed();
    const s = await signUp(t, data);
    const res = await t.gql(UPDATE, { input: { fullName: 'Ada King' } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateProfile).toMatchObject({
      id: s.userId,
      username: data.username,
      fullName: 'Ada King',
      avatarUrl: data.avatar_url,
      website: data.website,
      isPublic: true,
    });
    const row = await profileRow(s.userId);
    expect(row).toMatchObject({
      username: data.username,
      full_name: 'Ada King',
      avatar_url: data.avatar_url,
      website: data.website,
      is_public: true,
    });
  });

  it('changes every field given at once', async () => {
    const s = await signUp(t, seed());
    const username = uname('all');
    const input = {
      username,
      fullName: 'New Name',
      avatarUrl: 'http://img.example/new.png',
      website: 'https://new.example/path?q=1',
      isPublic: false,
    };
    const res = await t.gql(UPDATE, { input }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateProfile).toMatchObject({ id: s.userId, ...input });
    expect(await profileRow(s.userId)).toMatchObject({
      username,
      full_name: 'New Name',
      avatar_url: input.avatarUrl,
      website: input.website,
      is_public: false,
    });
  });

  it('clears fullName on an explicit null and leaves the rest', async () => {
    const data = seed();
    const s = await signUp(t, data);
    const res = await t.gql(UPDATE, { input: { fullName: null } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateProfile).toMatchObject({ fullName: null, username: data.username, website: data.website });
    expect(await profileRow(s.userId)).toMatchObject({ full_name: null, username: data.username });
  });

  it('advances updatedAt and keeps createdAt', async () => {
    const s = await signUp(t, seed());
    const before = await profileRow(s.userId);
    await sleep(25);
    const res = await t.gql(UPDATE, { input: { fullName: 'Later' } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    const p = res.data!.updateProfile;
    expect(new Date(p.updatedAt).getTime()).toBeGreaterThan(new Date(before!.updated_at).getTime());
    expect(new Date(p.createdAt).getTime()).toBe(new Date(before!.created_at).getTime());
    const after = await profileRow(s.userId);
    expect(new Date(after!.updated_at).getTime()).toBeGreaterThan(new Date(before!.updated_at).getTime());
  });

  it('returns the profile unchanged for an empty input', async () => {
    const data = seed();
    const s = await signUp(t, data);
    const res = await t.gql(UPDATE, { input: {} }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateProfile).toMatchObject({ id: s.userId, username: data.username, fullName: data.full_name });
  });

  it('refuses a username another user holds, in any case, with USERNAME_TAKEN and changes nothing', async () => {
    const taken = `Held_${randomBytes(4).toString('hex')}`;
    await signUp(t, { username: taken });
    const data = seed();
    const s = await signUp(t, data);
    const before = await profileRow(s.userId);
    for (const variant of [taken, taken.toLowerCase(), taken.toUpperCase()]) {
      const res = await t.gql(UPDATE, { input: { username: variant, fullName: 'Changed' } }, s.accessToken);
      expect(codeOf(res)).toBe('USERNAME_TAKEN');
      expect(res.data?.updateProfile ?? null).toBeNull();
    }
    expect(await profileRow(s.userId)).toEqual(before);
    // The refusal left nothing broken behind it: the next update of the same user applies.
    const ok = await t.gql(UPDATE, { input: { fullName: 'Changed' } }, s.accessToken);
    expect(ok.errors).toBeUndefined();
    expect((await profileRow(s.userId))?.full_name).toBe('Changed');
  });

  it('lets the owner change the case of its own username', async () => {
    const username = `Case_${randomBytes(4).toString('hex')}`;
    const s = await signUp(t, { username });
    const res = await t.gql(UPDATE, { input: { username: username.toLowerCase() } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateProfile.username).toBe(username.toLowerCase());
  });

  it('frees the old username when it changes', async () => {
    const old = uname('old');
    const a = await signUp(t, { username: old });
    await t.gql(UPDATE, { input: { username: uname('new') } }, a.accessToken);
    const b = await signUp(t);
    const res = await t.gql(UPDATE, { input: { username: old } }, b.accessToken);
    expect(res.errors).toBeUndefined();
    expect(res.data!.updateProfile.username).toBe(old);
  });

  it.each([
    ['a short username', { username: 'ab' }],
    ['a 33-character username', { username: 'a'.repeat(33) }],
    ['a username with a space', { username: 'has space' }],
    ['a username with a dash', { username: 'has-dash' }],
    ['an ftp website', { website: 'ftp://files.example' }],
    ['a javascript: website', { website: 'javascript:alert(1)' }],
    ['a website without a scheme', { website: 'example.com' }],
    ['an avatarUrl over 2048 characters', { avatarUrl: `https://img.example/${'a'.repeat(2048)}` }],
    ['a data: avatarUrl', { avatarUrl: 'data:image/png;base64,AAAA' }],
    ['a NUL byte in fullName', { fullName: 'a\u0000b' }],
  ])('refuses %s with BAD_USER_INPUT and changes nothing', async (_why, input) => {
    const s = await signUp(t, seed());
    const before = await profileRow(s.userId);
    await sleep(5);
    const res = await t.gql(UPDATE, { input: { ...input, isPublic: false } }, s.accessToken);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.data?.updateProfile ?? null).toBeNull();
    expect(await profileRow(s.userId)).toEqual(before);
  });

  it('accepts an avatarUrl of exactly 2048 characters', async () => {
    const s = await signUp(t);
    const prefix = 'https://img.example/';
    const url = prefix + 'a'.repeat(2048 - prefix.length);
    const res = await t.gql(UPDATE, { input: { avatarUrl: url } }, s.accessToken);
    expect(res.errors).toBeUndefined();
    expect((await profileRow(s.userId))?.avatar_url).toBe(url);
  });

  it('needs a signed-in caller', async () => {
    const res = await t.gql(UPDATE, { input: { fullName: 'anon' } });
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
  });
});

describe('batching', () => {
  const selectsProfiles = (q: string) => /\bfrom\s+("?public"?\.)?"?profiles"?/i.test(q);

  it('reads profiles a fixed, small number of times whatever the page size', async () => {
    const viewer = await signUp(t);
    // The viewer's profile then lies outside both pages, so me.profile needs its own load.
    await Promise.all(Array.from({ length: 21 }, () => signUp(t)));
    const query = /* GraphQL */ `
      query Q($first: Int) { profiles(first: $first) { edges { node { id } } } me { profile { id } } }`;
    const counts: number[] = [];
    for (const first of [5, 20]) {
      t.queries.length = 0;
      const res = await t.gql(query, { first }, viewer.accessToken);
      expect(res.errors).toBeUndefined();
      expect(res.data!.profiles.edges).toHaveLength(first);
      expect(res.data!.me.profile.id).toBe(viewer.userId);
      counts.push(t.queries.filter(selectsProfiles).length);
    }
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBe(counts[0]);
    expect(counts[1]).toBeLessThanOrEqual(3);
  });

  it('loads several profiles by id in one query', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => signUp(t)));
    const fields = users.map((u, i) => `p${i}: profile(id: "${u.userId}") { id }`).join('\n');
    t.queries.length = 0;
    const res = await t.gql(`{ ${fields} me { id } }`);
    expect(res.errors).toBeUndefined();
    users.forEach((u, i) => {
      expect(res.data![`p${i}`].id).toBe(u.userId);
    });
    expect(t.queries.filter(selectsProfiles)).toHaveLength(1);
  });
});
