/** The bench's GraphQL documents, its scenarios (what is sent where), and their verification. */
import { createHash } from 'node:crypto';
import { PROFILES_NOTES, type Server } from './report.js';
import { NOTES_PER_USER } from './setup.js';

const PROFILE_FIELDS = 'id username fullName avatarUrl website isPublic createdAt updatedAt';
const PROFILE_PAGE = (first: number) =>
  `profiles(first: ${first}) { edges { cursor node { ${PROFILE_FIELDS} } } pageInfo { hasNextPage endCursor } }`;

export const Q = {
  me: 'query Me { me { id email } }',
  profiles: (first: number) => `query Profiles { ${PROFILE_PAGE(first)} }`,
  profilesAndMe: `query ProfilesAndMe { ${PROFILE_PAGE(100)} me { profile { id } } }`,
  profilesNotes:
    'query ProfilesNotes { profiles(first: 20) { edges { node { id username notes(first: 5) { id title } } } } me { id notes(first: 5) { id title } } }',
  refresh:
    'mutation Refresh($refreshToken: String!) { refresh(refreshToken: $refreshToken) { accessToken refreshToken expiresIn } }',
  signIn:
    'mutation SignIn($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken expiresIn user { id } } }',
};

/**
 * PostGraphile's documents for the same pages. It has no `me` (auth.users is not in its
 * schema), so its `me` is the viewer's profile by primary key, a private row that RLS shows
 * to its owner only; its page is the gateway's page: the same 20 profiles in the same order,
 * the same fields, cursors and pageInfo. The Amber preset names a primary key `id` column
 * `rowId` (`id` is the Node interface's global id) and its lookup `profileByRowId`.
 */
export const PGL = {
  me: 'query Me($id: UUID!) { profileByRowId(rowId: $id) { rowId username } }',
  profiles: `query Profiles { allProfiles(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { cursor node { ${PROFILE_FIELDS.replace(/^id /, 'rowId ')} } } pageInfo { hasNextPage endCursor } } }`,
};

export const gqlBody = (query: string, variables?: Record<string, unknown>) =>
  JSON.stringify(variables ? { query, variables } : { query });

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The manifest the gateway gets as TRUSTED_DOCUMENTS: every document the bench sends it. */
export function trustedManifest(): Record<string, string> {
  const docs = [Q.me, Q.profiles(20), Q.profilesAndMe, Q.profilesNotes, Q.refresh, Q.signIn];
  return Object.fromEntries(docs.map((d) => [`sha256:${sha256(d)}`, d]));
}

/** A request naming a trusted document by its hash, with no text. */
export const trustedBody = (query: string) =>
  JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } });

// GraphQL answers are checked by shape at run time, so `any` is the honest type here.
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field
export type Json = any;

export async function gql(url: string, body: string, token?: string): Promise<{ status: number; json: Json }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: Json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

export type Scenario = {
  key: string;
  label: string;
  server: Server;
  path: string;
  auth: boolean;
  body?: string;
  bodies?: (c: number) => Promise<string>;
  bodiesReuse?: boolean;
  /** The body sent once to verify the scenario, when it is not `body` (refresh, signIn). */
  verifyBody?: string;
};

export type Endpoints = {
  gwUrl: string;
  /** The same gateway with WORKERS=2: two processes behind one port. */
  gw2Url: string;
  /** graphql-yoga alone, answering from a constant (bench/yoga-alone.ts). */
  yogaUrl: string;
  floorBase: string;
  /** PostGraphile verifying every token, and the same server caching them. */
  pglUrl: string;
  pglCachedUrl: string;
  viewerId: string;
  refreshFile: (c: number) => string;
  signInFile: string;
  verifyRefresh: string;
  verifySignIn: string;
};

export function buildScenarios(e: Endpoints): Scenario[] {
  const gw = (key: string, label: string, body: string, auth = true): Scenario => ({
    key,
    label,
    server: 'gateway',
    path: e.gwUrl,
    auth,
    body,
  });
  const floor = (key: string, label: string, route: string, body: string): Scenario[] =>
    (['awaited', 'pipelined'] as const).map((how) => ({
      key,
      label,
      server: `floor-${how}`,
      path: `${e.floorBase}/${how}/${route}`,
      auth: true,
      body,
    }));
  const pgl = (key: string, label: string, body: string): Scenario[] => [
    { key, label, server: 'postgraphile', path: e.pglUrl, auth: true, body },
    { key, label, server: 'postgraphile-cached', path: e.pglCachedUrl, auth: true, body },
  ];
  const twoWorkers = (key: string, label: string, body: string): Scenario => ({
    ...gw(key, label, body),
    server: 'gateway-2w',
    path: e.gw2Url,
  });
  const pglMe = gqlBody(PGL.me, { id: e.viewerId });
  return [
    gw('me', 'me', gqlBody(Q.me)),
    gw('meTrusted', 'me (trusted document)', trustedBody(Q.me)),
    ...floor('me', 'me', 'me', gqlBody(Q.me)),
    ...pgl('me', 'me', pglMe),
    twoWorkers('me', 'me', gqlBody(Q.me)),
    { key: 'me', label: 'me', server: 'yoga-alone', path: e.yogaUrl, auth: false, body: gqlBody(Q.me) },
    gw('profiles20', 'profiles(first: 20)', gqlBody(Q.profiles(20))),
    ...floor('profiles20', 'profiles(first: 20)', 'profiles', gqlBody(Q.profiles(20))),
    ...pgl('profiles20', 'profiles(first: 20)', gqlBody(PGL.profiles)),
    twoWorkers('profiles20', 'profiles(first: 20)', gqlBody(Q.profiles(20))),
    gw('profilesNotes', PROFILES_NOTES, gqlBody(Q.profilesNotes)),
    ...floor('profilesNotes', PROFILES_NOTES, 'profilesNotes', gqlBody(Q.profilesNotes)),
    gw('profiles100me', 'profiles(first: 100) + me { profile }', gqlBody(Q.profilesAndMe)),
    gw('anonProfiles20', 'anonymous profiles(first: 20)', gqlBody(Q.profiles(20)), false),
    {
      key: 'refresh',
      label: 'refresh (fresh token each)',
      server: 'gateway',
      path: e.gwUrl,
      auth: false,
      bodies: async (c) => e.refreshFile(c),
      verifyBody: e.verifyRefresh,
    },
    {
      key: 'signIn',
      label: 'signIn',
      server: 'gateway',
      path: e.gwUrl,
      auth: false,
      bodies: async () => e.signInFile,
      bodiesReuse: true,
      verifyBody: e.verifySignIn,
    },
  ];
}

/**
 * Sends each scenario once and checks its answer before it is loaded: no errors, the right
 * shape, the viewer where the viewer is asked for. Returns how the other servers' answers
 * compare with the gateway's (the floor's must be the same, key for key; PostGraphile's must
 * hold the same rows).
 */
export async function verifyScenarios(
  scenarios: Scenario[],
  token: string,
  viewerId: string,
): Promise<Record<string, string>> {
  const answers: Record<string, Json> = {};
  const checks: Record<string, string> = {};
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`verification failed: ${what}`);
  };
  // The gateway's answers first: the others are compared with them.
  const ordered = [...scenarios].sort((a, b) => Number(b.server === 'gateway') - Number(a.server === 'gateway'));
  for (const s of ordered) {
    const name = `${s.server} ${s.label}`;
    const r = await gql(s.path, (s.verifyBody ?? s.body)!, s.auth ? token : undefined);
    expect(r.status === 200, `${name}: HTTP ${r.status} ${JSON.stringify(r.json)?.slice(0, 300)}`);
    expect(!r.json?.errors, `${name}: ${JSON.stringify(r.json?.errors)?.slice(0, 300)}`);
    const d = r.json?.data;
    if (s.server.startsWith('postgraphile')) {
      if (s.key === 'me')
        expect(d?.profileByRowId?.rowId === viewerId, `${name}: profileByRowId is the viewer's profile`);
      if (s.key === 'profiles20') {
        expect(d?.allProfiles?.edges?.length === 20, `${name}: 20 edges`);
        const ids = (x: Json) => JSON.stringify(x.edges.map((e: Json) => e.node.rowId ?? e.node.id));
        const gwPage = answers.profiles20?.data?.profiles;
        if (gwPage) checks[`${s.server} ${s.key}`] = ids(d.allProfiles) === ids(gwPage) ? 'same rows' : 'other rows';
      }
      continue;
    }
    if (s.server === 'yoga-alone') {
      expect(typeof d?.me?.id === 'string', `${name}: an answer shaped like the gateway's`);
      continue;
    }
    if (s.key === 'me' || s.key === 'meTrusted') expect(d?.me?.id === viewerId, `${name}: me is the viewer`);
    if (s.key === 'profiles20') expect(d?.profiles?.edges?.length === 20, `${name}: 20 edges`);
    if (s.key === 'profiles100me') {
      expect(d?.profiles?.edges?.length === 100, `${name}: 100 edges`);
      expect(d?.me?.profile?.id === viewerId, `${name}: me.profile is the viewer's`);
    }
    if (s.key === 'profilesNotes') {
      expect(d?.profiles?.edges?.length === 20, `${name}: 20 edges`);
      expect(
        d.profiles.edges.every((e: Json) => Array.isArray(e.node.notes) && e.node.notes.length <= 5),
        `${name}: at most 5 notes per profile`,
      );
      expect(
        d.profiles.edges.some((e: Json) => e.node.notes.length > 0),
        `${name}: the page's owners have visible notes`,
      );
      expect(d?.me?.id === viewerId, `${name}: me is the viewer`);
      // All three: the two private ones are visible to their owner only.
      expect(d?.me?.notes?.length === NOTES_PER_USER, `${name}: me.notes are the viewer's ${NOTES_PER_USER} notes`);
    }
    if (s.key === 'anonProfiles20') {
      expect(d?.profiles?.edges?.length === 20, `${name}: 20 edges`);
      expect(
        d.profiles.edges.every((e: Json) => e.node.isPublic),
        `${name}: anonymous sees public profiles only`,
      );
    }
    if (s.key === 'refresh') expect(typeof d?.refresh?.refreshToken === 'string', `${name}: a new refresh token`);
    if (s.key === 'signIn') expect(typeof d?.signIn?.accessToken === 'string', `${name}: an access token`);
    if (s.key === 'meTrusted') {
      checks['gateway me by hash'] = JSON.stringify(r.json) === JSON.stringify(answers.me) ? 'same' : 'differs';
    } else if (s.server === 'gateway') answers[s.key] = r.json;
    else
      checks[`${s.server} ${s.key}`] = JSON.stringify(r.json) === JSON.stringify(answers[s.key]) ? 'same' : 'differs';
  }
  return checks;
}
