import type { IncomingMessage } from 'node:http';
import DataLoader from 'dataloader';
import type postgres from 'postgres';
import type { AccessClaims, AccessTokens, Verified } from './auth/access-token.js';
import type { AdminService } from './auth/admin.js';
import { AuthError } from './auth/errors.js';
import type { AuthService, ClientInfo, UserView } from './auth/service.js';
import { type Claims, type RequestTx, requestTx } from './db/rls.js';
import type { ProfileRow } from './db/schema.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export type Viewer = { id: string; sessionId: string };

export type Context = {
  viewer: Viewer | null;
  /** A service-role token: admin fields open, RLS bypassed. */
  service: boolean;
  /** The verified access-token claims, null for anon. */
  accessClaims: AccessClaims | null;
  /** A bad bearer token: the request fails with it before any database work. */
  authError: AuthError | null;
  tx: RequestTx;
  loaders: Loaders;
  auth: AuthService;
  admin: AdminService;
  metrics: Metrics;
  log: Logger;
  requestId: string;
  client: ClientInfo;
};

export type Loaders = ReturnType<typeof createLoaders>;

export type ContextDeps = {
  db: postgres.Sql;
  tokens: AccessTokens;
  auth: AuthService;
  admin: AdminService;
  postgraphileSettings?: boolean;
  metrics: Metrics;
  trustProxyHops?: number;
  acquireTimeoutMs?: number;
  prepare?: boolean;
  log: Logger;
};

/** Bearer -> verified claims -> per-request state. Takes no connection: the tx opens lazily. */
export async function createContext(
  request: Request,
  req: IncomingMessage | undefined,
  deps: ContextDeps,
): Promise<Context> {
  let verified: Verified | null = null;
  let authError: AuthError | null = null;
  const header = request.headers.get('authorization');
  if (header !== null) {
    const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
    try {
      if (!match?.[1]) throw new AuthError('UNAUTHENTICATED');
      verified = await deps.tokens.verify(match[1]);
    } catch (err) {
      authError = err instanceof AuthError ? err : new AuthError('UNAUTHENTICATED');
    }
  }
  const accessClaims = verified?.kind === 'user' ? verified.claims : null;
  const claims: Claims = verified ? (verified.claims as unknown as Claims) : { role: 'anon' };
  const tx = requestTx(deps.db, claims, {
    postgraphile: deps.postgraphileSettings ?? false,
    acquireTimeoutMs: deps.acquireTimeoutMs ?? 5000,
    prepare: deps.prepare ?? true,
    hooks: { taken: deps.metrics.connectionTaken, returned: deps.metrics.connectionReturned },
  });
  return {
    viewer: accessClaims ? { id: accessClaims.sub, sessionId: accessClaims.session_id } : null,
    service: verified?.kind === 'service',
    accessClaims,
    authError,
    tx,
    loaders: createLoaders(tx),
    auth: deps.auth,
    admin: deps.admin,
    metrics: deps.metrics,
    log: deps.log,
    requestId: request.headers.get('x-request-id') ?? 'none',
    client: {
      ip: clientIp(request, req, deps.trustProxyHops ?? 0),
      userAgent: request.headers.get('user-agent'),
    },
  };
}

/** Per-request batching: every nested lookup of a request is one query per kind. */
function createLoaders(tx: RequestTx) {
  return {
    profile: new DataLoader<string, ProfileRow | null>(async (ids) => {
      const sql = await tx.sql();
      const rows = await sql<ProfileRow[]>`
        select ${sql.unsafe(PROFILE_COLUMNS)} from public.profiles where id = any(${ids as string[]}::uuid[])`;
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    user: new DataLoader<string, UserView | null>(async (ids) => {
      const sql = await tx.sql();
      const rows = await sql<UserView[]>`
        select id, email, role, created_at::text as "createdAt", last_sign_in_at::text as "lastSignInAt",
               user_metadata as "userMetadata", app_metadata as "appMetadata"
        from auth.visible_users(${ids as string[]}::uuid[])`;
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

/** public.profiles as ProfileRow; timestamps as Postgres text so cursors keep microseconds. */
export const PROFILE_COLUMNS = `id, username, full_name as "fullName", avatar_url as "avatarUrl", website,
  is_public as "isPublic", created_at::text as "createdAt", updated_at::text as "updatedAt"`;

/**
 * The client's address: the socket's, or with `hops` trusted proxies in front, the entry of
 * X-Forwarded-For that the outermost trusted proxy saw (anything left of it is client-made).
 */
export function clientIp(request: Request, req: IncomingMessage | undefined, hops: number): string | null {
  const socket = req?.socket.remoteAddress ?? null;
  if (hops === 0) return socket;
  const forwarded = (request.headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return forwarded[forwarded.length - hops]?.slice(0, 64) ?? forwarded[0]?.slice(0, 64) ?? socket;
}
