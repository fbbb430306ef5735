/**
 * The floor: the least a server must do per request for `me`, `profiles(first: 20)` and the
 * notes app's `profiles { notes } me { notes }` with the gateway's security model, and
 * nothing it may skip. node:http, postgres.js as the gateway's login role, and per request:
 *
 * - the request body read and parsed as JSON (the gateway must, to know what is asked);
 * - the bearer token checked as the gateway checks it: ES256 with jose against the gateway's
 *   JWKS, verified tokens cached until `exp` (bench/token-cache.ts, the gateway's cache: a
 *   Map bounded at 5000), so a repeated token costs a lookup in both;
 * - the same transaction: BEGIN; the gateway's identity statement, byte for byte (claims and
 *   role with set_config, and auth.require_live_session, so a signed-out session or a banned
 *   user is refused per request); the SELECT(s); COMMIT;
 * - a JSON answer shaped like the GraphQL one.
 *
 * What it does not do: parse, validate or execute GraphQL (each route knows its one document),
 * DataLoader, plugins (limits, CSRF, armor), logging, metrics, error masking. For `me` and
 * `profiles` its SELECT reads only the columns the answer needs (the gateway's reads a few more).
 *
 *   /awaited/me, /awaited/profiles      each statement awaited in turn (4 round trips)
 *   /pipelined/me, /pipelined/profiles  all four statements sent in the same tick on a reserved
 *                                       connection, then awaited together (1 round trip)
 *   /awaited/profilesNotes              BEGIN, identity, page, me row, notes, COMMIT, each
 *                                       awaited (6 round trips)
 *   /pipelined/profilesNotes            BEGIN, identity, page and me row in one tick; then the
 *                                       notes of all 21 owners and COMMIT (2 round trips)
 *
 * Env: FLOOR_DATABASE_URL (as the gateway's login role), PORT, JWKS_URL, JWT_ISSUER (authgate),
 * DB_POOL_MAX (10, as the gateway's app pool), EXIT_WITH_PARENT.
 */
import { createServer, type ServerResponse } from 'node:http';
import postgres from 'postgres';
import { isoDateTime } from '../src/shared/timestamps.js';
import { type Claims, tokenVerifier } from './token-cache.js';

const dbUrl = process.env.FLOOR_DATABASE_URL;
const jwksUrl = process.env.JWKS_URL;
if (!dbUrl || !jwksUrl) {
  console.error('floor: FLOOR_DATABASE_URL and JWKS_URL are required');
  process.exit(1);
}
const port = Number(process.env.PORT ?? 4100);
const issuer = process.env.JWT_ISSUER ?? 'authgate';

const verify = await tokenVerifier(jwksUrl, issuer, true);

const sql = postgres(dbUrl, {
  max: Number(process.env.DB_POOL_MAX ?? 10),
  idle_timeout: 30,
  connect_timeout: 5,
  onnotice: () => {},
  connection: { application_name: 'authgate-floor' },
});

// src/db/rls.ts's identityStatement for a token with a session, the same text (so the same
// prepared statement) and the same parameters.
const IDENTITY = `select set_config('request.jwt.claims', $1, true), set_config('role', $2, true), auth.require_live_session($3::uuid, $4::uuid)`;
const identityParams = (c: Claims) => [JSON.stringify(c), c.role, c.session_id, c.sub];
const ME = 'select id, email from auth.visible_users(array[$1]::uuid[])';
// ORDER BY names the table's columns: a bare `created_at` would bind to the output column
// `created_at::text` (output names win in ORDER BY), sort text and never use the page index.
const PROFILES = `select id, username, full_name, avatar_url, website, is_public, created_at::text, updated_at::text
  from public.profiles p order by p.created_at desc, p.id desc limit 21`;

// profilesNotes sends the gateway's own statement texts (src/db/loaders.ts, src/db/profiles.ts,
// the window query test/fixtures/notes/graphql.ts builds with drizzle), so Postgres does the
// same work for both (the answer, like the gateway's, uses only some of the columns).
const PN_PROFILES = `select id, username, full_name as "fullName", avatar_url as "avatarUrl", website,
  is_public as "isPublic", created_at::text as "createdAt", updated_at::text as "updatedAt" from public.profiles
  order by created_at desc, id desc limit $1`;
const PN_ME = `select id, coalesce(email, '') as email, role, created_at::text as "createdAt", last_sign_in_at::text as "lastSignInAt",
  user_metadata as "userMetadata", app_metadata as "appMetadata",
  email_confirmed_at::text as "emailConfirmedAt", is_anonymous as "isAnonymous",
  pending_email as "pendingEmail"
  from auth.visible_users($1::uuid[])`;
const PN_NOTES = `select "id", "owner_id", "title", "is_public", "created_at" from (select "id", "owner_id", "title", "is_public", "created_at", row_number() over (partition by "owner_id" order by "created_at" desc, "id" desc) as "rn" from "notes" where "notes"."owner_id" = any($1::uuid[])) "ranked" where "rn" <= $2 order by "ranked"."owner_id", "ranked"."created_at" desc, "ranked"."id" desc`;
const PN_PAGE = 20;
const PN_NOTES_FIRST = 5;

type Row = Record<string, unknown>;
type Kind = 'me' | 'profiles';

function selectFor(kind: Kind, claims: Claims): [string, string[]] {
  return kind === 'me' ? [ME, [claims.sub]] : [PROFILES, []];
}

/** Four round trips: BEGIN, identity, SELECT, COMMIT, each awaited. */
async function awaited(kind: Kind, claims: Claims): Promise<Row[]> {
  const [text, params] = selectFor(kind, claims);
  return sql.begin(async (tx) => {
    await tx.unsafe(IDENTITY, identityParams(claims), { prepare: true });
    return tx.unsafe<Row[]>(text, params, { prepare: true });
  }) as Promise<Row[]>;
}

/** One round trip: the four statements leave in the same tick on one reserved connection. */
async function pipelined(kind: Kind, claims: Claims): Promise<Row[]> {
  const [text, params] = selectFor(kind, claims);
  const tx = await sql.reserve();
  try {
    const begin = tx`begin`.execute();
    const identity = tx.unsafe(IDENTITY, identityParams(claims), { prepare: true });
    identity.execute();
    const rows = tx.unsafe<Row[]>(text, params, { prepare: true });
    rows.execute();
    const commit = tx`commit`.execute();
    const settled = await Promise.allSettled([begin, identity, rows, commit]);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      await tx`rollback`.catch(() => {});
      throw (failed as PromiseRejectedResult).reason;
    }
    return (settled[2] as PromiseFulfilledResult<Row[]>).value;
  } finally {
    tx.release();
  }
}

type PnRows = { page: Row[]; me: Row[]; notes: Row[] };

/**
 * The owners whose notes one request reads, in the gateway's order: the viewer first (its
 * notes join the page's batch before `me` resolves), then the page.
 */
const pnOwners = (claims: Claims, page: Row[]) => [...new Set([claims.sub, ...page.map((r) => String(r.id))])];

/** Six round trips: BEGIN, identity, page, me row, notes, COMMIT, each awaited. */
async function profilesNotesAwaited(claims: Claims): Promise<PnRows> {
  return sql.begin(async (tx) => {
    await tx.unsafe(IDENTITY, identityParams(claims), { prepare: true });
    const page = await tx.unsafe<Row[]>(PN_PROFILES, [PN_PAGE + 1], { prepare: true });
    const me = await tx.unsafe<Row[]>(PN_ME, [[claims.sub]], { prepare: true });
    const notes = await tx.unsafe<Row[]>(PN_NOTES, [pnOwners(claims, page.slice(0, PN_PAGE)), PN_NOTES_FIRST], {
      prepare: true,
    });
    return { page, me, notes };
  }) as Promise<PnRows>;
}

/** Awaits statements sent together; on a failure rolls back and throws the first error. */
async function settle(tx: postgres.ReservedSql, sent: Promise<unknown>[]): Promise<unknown[]> {
  const settled = await Promise.allSettled(sent);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await tx`rollback`.catch(() => {});
    throw (failed as PromiseRejectedResult).reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
}

/**
 * Two round trips, as the gateway's critical path: BEGIN, identity, page and me row leave in
 * one tick; the notes need the page's ids, so they follow with COMMIT in a second.
 */
async function profilesNotesPipelined(claims: Claims): Promise<PnRows> {
  const tx = await sql.reserve();
  try {
    const begin = tx`begin`.execute();
    const identity = tx.unsafe(IDENTITY, identityParams(claims), { prepare: true });
    identity.execute();
    const pageQ = tx.unsafe<Row[]>(PN_PROFILES, [PN_PAGE + 1], { prepare: true });
    pageQ.execute();
    const meQ = tx.unsafe<Row[]>(PN_ME, [[claims.sub]], { prepare: true });
    meQ.execute();
    const [, , page, me] = (await settle(tx, [begin, identity, pageQ, meQ])) as [unknown, unknown, Row[], Row[]];
    const notesQ = tx.unsafe<Row[]>(PN_NOTES, [pnOwners(claims, page.slice(0, PN_PAGE)), PN_NOTES_FIRST], {
      prepare: true,
    });
    notesQ.execute();
    const commit = tx`commit`.execute();
    const [notes] = (await settle(tx, [notesQ, commit])) as [Row[]];
    return { page, me, notes };
  } finally {
    tx.release();
  }
}

/** The GraphQL answer to the ProfilesNotes document, key for key. */
function profilesNotesAnswer(claims: Claims, { page, me, notes }: PnRows): unknown {
  const byOwner = new Map<string, Array<{ id: unknown; title: unknown }>>();
  for (const n of notes) {
    const owner = String(n.owner_id);
    const list = byOwner.get(owner) ?? [];
    if (list.length === 0) byOwner.set(owner, list);
    list.push({ id: n.id, title: n.title });
  }
  const notesOf = (id: unknown) => (byOwner.get(String(id)) ?? []).slice(0, PN_NOTES_FIRST);
  const edges = page.slice(0, PN_PAGE).map((r) => ({ node: { id: r.id, username: r.username, notes: notesOf(r.id) } }));
  const m = me.find((r) => r.id === claims.sub);
  return { data: { profiles: { edges }, me: m ? { id: m.id, notes: notesOf(m.id) } : null } };
}

// The gateway's DateTime serializer: the same work for the same text.
const iso = (t: unknown) => isoDateTime(String(t));

function answer(kind: Kind, rows: Row[]): unknown {
  if (kind === 'me') {
    const r = rows[0];
    return { data: { me: r ? { id: r.id, email: r.email } : null } };
  }
  const page = rows.slice(0, 20);
  const edges = page.map((r) => ({
    cursor: Buffer.from(JSON.stringify([r.created_at, r.id])).toString('base64url'),
    node: {
      id: r.id,
      username: r.username,
      fullName: r.full_name,
      avatarUrl: r.avatar_url,
      website: r.website,
      isPublic: r.is_public,
      createdAt: iso(r.created_at),
      updatedAt: iso(r.updated_at),
    },
  }));
  return {
    data: {
      profiles: { edges, pageInfo: { hasNextPage: rows.length > 20, endCursor: edges.at(-1)?.cursor ?? null } },
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const ROUTES: Record<string, (claims: Claims) => Promise<unknown>> = {
  '/awaited/me': async (c) => answer('me', await awaited('me', c)),
  '/awaited/profiles': async (c) => answer('profiles', await awaited('profiles', c)),
  '/pipelined/me': async (c) => answer('me', await pipelined('me', c)),
  '/pipelined/profiles': async (c) => answer('profiles', await pipelined('profiles', c)),
  '/awaited/profilesNotes': async (c) => profilesNotesAnswer(c, await profilesNotesAwaited(c)),
  '/pipelined/profilesNotes': async (c) => profilesNotesAnswer(c, await profilesNotesPipelined(c)),
};

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/healthz') {
    req.resume();
    return send(res, 200, { status: 'ok' });
  }
  const route = ROUTES[path];
  if (!route) {
    req.resume();
    return send(res, 404, { errors: [{ message: 'not found' }] });
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      // Parsed as the gateway must parse it; each route already knows its document.
      try {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(res, 400, { errors: [{ message: 'the body is not JSON' }] });
      }
      const claims = await verify(req.headers.authorization);
      if (!claims) return send(res, 401, { errors: [{ message: 'unauthenticated' }] });
      try {
        send(res, 200, await route(claims));
      } catch (err) {
        send(res, 500, { errors: [{ message: (err as Error).message }] });
      }
    })();
  });
});

server.listen(port, '127.0.0.1', () => console.log(`floor: listening on http://127.0.0.1:${port}`));

const stop = () => {
  server.close();
  server.closeAllConnections();
  void sql.end({ timeout: 2 }).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by bench/run.ts with a pipe on stdin: when the bench goes away, so does the floor.
if (process.env.EXIT_WITH_PARENT === '1') process.stdin.on('end', stop).on('error', stop).resume();
