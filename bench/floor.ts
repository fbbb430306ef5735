/**
 * The floor: the least a server can do for `me` and `profiles(first: 20)` with the gateway's
 * security model. node:http, postgres.js as the gateway's login role, the same ES256 JWT
 * check (jose, keys from the gateway's JWKS), the same transaction (BEGIN; claims, role and
 * live-session check in one statement; the same SELECT; COMMIT), and a JSON answer shaped
 * like the GraphQL one. No GraphQL, no DataLoader, no plugins.
 *
 *   /awaited/me, /awaited/profiles      each statement awaited in turn (4 round trips)
 *   /pipelined/me, /pipelined/profiles  all four statements sent in the same tick on a reserved
 *                                       connection, then awaited together (1 round trip)
 *
 * Env: FLOOR_DATABASE_URL (as authgate_authenticator), PORT, JWKS_URL, JWT_ISSUER (authgate),
 * DB_POOL_MAX (10, as the gateway's app pool).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import postgres from 'postgres';

const dbUrl = process.env.FLOOR_DATABASE_URL;
const jwksUrl = process.env.JWKS_URL;
if (!dbUrl || !jwksUrl) {
  console.error('floor: FLOOR_DATABASE_URL and JWKS_URL are required');
  process.exit(1);
}
const port = Number(process.env.PORT ?? 4100);
const issuer = process.env.JWT_ISSUER ?? 'authgate';

const jwksRes = await fetch(jwksUrl);
if (!jwksRes.ok) {
  console.error(`floor: JWKS answered ${jwksRes.status}`);
  process.exit(1);
}
const jwks = createLocalJWKSet((await jwksRes.json()) as JSONWebKeySet);

const sql = postgres(dbUrl, {
  max: Number(process.env.DB_POOL_MAX ?? 10),
  idle_timeout: 30,
  connect_timeout: 5,
  onnotice: () => {},
  connection: { application_name: 'authgate-floor' },
});

const IDENTITY = `select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true),
  auth.require_live_session($2::uuid, $3::uuid)`;
const ME = 'select id, email from auth.visible_users(array[$1]::uuid[])';
// ORDER BY names the table's columns: a bare `created_at` would bind to the output column
// `created_at::text` (output names win in ORDER BY), sort text and never use the page index.
const PROFILES = `select id, username, full_name, avatar_url, website, is_public, created_at::text, updated_at::text
  from public.profiles p order by p.created_at desc, p.id desc limit 21`;

type Claims = JWTPayload & { sub: string; session_id: string };
type Row = Record<string, unknown>;
type Kind = 'me' | 'profiles';

async function verify(req: IncomingMessage): Promise<Claims | null> {
  const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(req.headers.authorization ?? '');
  if (!m?.[1]) return null;
  try {
    const { payload } = await jwtVerify(m[1], jwks, { issuer, audience: 'authenticated', algorithms: ['ES256'] });
    if (typeof payload.sub !== 'string' || typeof payload.session_id !== 'string') return null;
    return payload as Claims;
  } catch {
    return null;
  }
}

function selectFor(kind: Kind, claims: Claims): [string, string[]] {
  return kind === 'me' ? [ME, [claims.sub]] : [PROFILES, []];
}

/** Four round trips: BEGIN, identity, SELECT, COMMIT, each awaited. */
async function awaited(kind: Kind, claims: Claims): Promise<Row[]> {
  const [text, params] = selectFor(kind, claims);
  return sql.begin(async (tx) => {
    await tx.unsafe(IDENTITY, [JSON.stringify(claims), claims.session_id, claims.sub], { prepare: true });
    return tx.unsafe<Row[]>(text, params, { prepare: true });
  }) as Promise<Row[]>;
}

/** One round trip: the four statements leave in the same tick on one reserved connection. */
async function pipelined(kind: Kind, claims: Claims): Promise<Row[]> {
  const [text, params] = selectFor(kind, claims);
  const tx = await sql.reserve();
  try {
    const begin = tx`begin`.execute();
    const identity = tx.unsafe(IDENTITY, [JSON.stringify(claims), claims.session_id, claims.sub], { prepare: true });
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

const iso = (t: unknown) => new Date(String(t)).toISOString();

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

const ROUTES: Record<string, [typeof awaited, Kind]> = {
  '/awaited/me': [awaited, 'me'],
  '/awaited/profiles': [awaited, 'profiles'],
  '/pipelined/me': [pipelined, 'me'],
  '/pipelined/profiles': [pipelined, 'profiles'],
};

const server = createServer((req, res) => {
  // The request body (the GraphQL document the gateway would get) is read and ignored.
  req.resume();
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/healthz') return send(res, 200, { status: 'ok' });
  const route = ROUTES[path];
  if (!route) return send(res, 404, { errors: [{ message: 'not found' }] });
  req.on('end', () => {
    void (async () => {
      const claims = await verify(req);
      if (!claims) return send(res, 401, { errors: [{ message: 'unauthenticated' }] });
      try {
        send(res, 200, answer(route[1], await route[0](route[1], claims)));
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
if (process.env.FLOOR_EXIT_WITH_PARENT === '1') process.stdin.on('end', stop).on('error', stop).resume();
