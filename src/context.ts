import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { GraphQLError } from 'graphql';
import type postgres from 'postgres';
import type { AccessClaims, AccessTokens, Verified } from './auth/access-token.js';
import type { Captcha } from './auth/captcha.js';
import { AuthError, TokenRefused } from './auth/errors.js';
import type { ExternalIdentity } from './auth/external.js';
import type { AuthService } from './auth/flows/account/index.js';
import type { AdminService } from './auth/flows/admin/index.js';
import type { EmailFlows } from './auth/flows/email/index.js';
import type { ExternalUser, IdentityService } from './auth/flows/identities/index.js';
import type { MfaService } from './auth/flows/mfa/index.js';
import type { OidcBroker } from './auth/flows/oidc/index.js';
import type { OrganizationFlows } from './auth/flows/organizations/index.js';
import type { PasskeyService } from './auth/flows/passkeys/index.js';
import type { ClientInfo } from './auth/model.js';
import { databaseUnavailableError, isDatabaseUnavailable } from './db/errors.js';
import { createLoaders, type Loaders } from './db/loaders.js';
import { type RequestDb, requestDb } from './db/request-db.js';
import { type Claims, type RequestTx, requestTx } from './db/rls.js';
import { describeError, type Logger } from './log.js';
import type { Metrics } from './metrics.js';

/**
 * The signed-in caller; sessionId is null for a trusted issuer's token (no session of ours),
 * aal is what the access token claims.
 */
export type Viewer = { id: string; sessionId: string | null; aal: 'aal1' | 'aal2' };

export type Context = {
  viewer: Viewer | null;
  /** A service-role token: admin fields open, RLS bypassed. */
  service: boolean;
  /** The verified access-token claims, null for anon. */
  accessClaims: AccessClaims | null;
  /** A bad bearer token: the request fails with it before any database work. */
  authError: GraphQLError | null;
  /** Why the bearer token was refused, for the request's log line (never the token itself). */
  authFailure: string | null;
  tx: RequestTx;
  /**
   * Drizzle bound to this request's transaction (claims and role set, session checked):
   * how an app's resolvers read and write. Made on first use.
   */
  readonly db: RequestDb;
  /**
   * One value per request and key, made by `create` on first use: for an app's DataLoaders,
   * which must batch within a request and never share rows between callers.
   */
  perRequest: <T>(key: string, create: () => T) => T;
  loaders: Loaders;
  requestId: string;
  client: ClientInfo;
  /** Cookie mode (REFRESH_TOKEN_COOKIE=on): the request's refresh-token cookie; null when the mode is off. */
  refreshTokenCookie: RefreshTokenCookie | null;
} & Services;

/**
 * The refresh token a request's cookie carries (`presented`), and the Set-Cookie its answer
 * sends (`issue` a new token or `clear` it; the last call wins).
 */
export type RefreshTokenCookie = {
  readonly presented: string | null;
  readonly setCookie: string | null;
  issue: (token: string) => void;
  clear: () => void;
};

/** The gateway's long-lived parts that resolvers reach through the context. */
export type Services = {
  auth: AuthService;
  captcha: Captcha;
  admin: AdminService;
  identities: IdentityService;
  oidc: OidcBroker;
  mfa: MfaService;
  passkeys: PasskeyService;
  email: EmailFlows;
  organizations: OrganizationFlows;
  metrics: Metrics;
  log: Logger;
};

export type ContextDeps = {
  db: postgres.Sql;
  tokens: AccessTokens;
  services: Services;
  postgraphileSettings?: boolean;
  trustProxyHops?: number;
  acquireTimeoutMs?: number;
  prepare?: boolean;
  /** Cookie mode: each request's cookie jar (src/http/refresh-token-cookie.ts); unset when off. */
  refreshTokenCookie?: (request: RequestHeaders, req: IncomingMessage | undefined) => RefreshTokenCookie;
};

/**
 * What the context reads of a request: its headers. A fetch Request (yoga's) or a view of
 * node:http's headers (known documents, src/graphql/known-documents.ts).
 */
export type RequestHeaders = { headers: { get(name: string): string | null } };

/**
 * Bearer -> verified claims -> per-request state. Takes no connection: the tx opens lazily.
 * The state is written onto `into` (yoga's own context object, see useRequestContext in
 * server.ts), so `db` stays a getter: merged with Object.assign, as yoga does with what a
 * context factory returns, it would be read, and a Drizzle instance built for every request.
 */
export async function createContext(
  request: RequestHeaders,
  req: IncomingMessage | undefined,
  deps: ContextDeps,
  into: object = {},
): Promise<Context> {
  let verified: Verified | null = null;
  let authError: GraphQLError | null = null;
  let authFailure: string | null = null;
  const header = request.headers.get('authorization');
  if (header !== null) {
    const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
    try {
      if (!match?.[1]) throw new AuthError('UNAUTHENTICATED');
      verified = await deps.tokens.verify(match[1]);
    } catch (err) {
      authError = err instanceof AuthError ? err : new AuthError('UNAUTHENTICATED');
      authFailure = whyRefused(err, match?.[1] ? 'the token did not verify' : 'not a Bearer token');
    }
  }
  const accessClaims = verified?.kind === 'user' ? verified.claims : null;
  let claims: Claims = { role: 'anon' };
  let viewer: Viewer | null = accessClaims
    ? { id: accessClaims.sub, sessionId: accessClaims.session_id, aal: accessClaims.aal }
    : null;
  if (verified?.kind === 'external') {
    try {
      const user = await deps.services.identities.resolveExternal(verified.claims);
      claims = externalClaims(verified.claims, user);
      viewer = { id: user.id, sessionId: null, aal: 'aal1' };
    } catch (err) {
      authError = earlyError(err);
      authFailure = whyRefused(err, "a trusted issuer's token without a usable user");
    }
  } else if (verified) {
    claims = verified.claims as unknown as Claims;
  }
  const tx = requestTx(deps.db, claims, {
    postgraphile: deps.postgraphileSettings ?? false,
    acquireTimeoutMs: deps.acquireTimeoutMs ?? 5000,
    prepare: deps.prepare ?? true,
    hooks: { taken: deps.services.metrics.connectionTaken, returned: deps.services.metrics.connectionReturned },
  });
  let db: RequestDb | undefined;
  let memo: Map<string, unknown> | undefined;
  const ctx = Object.assign(into, deps.services, {
    viewer,
    authFailure,
    service: verified?.kind === 'service',
    accessClaims,
    authError,
    tx,
    perRequest: <T>(key: string, create: () => T): T => {
      memo ??= new Map();
      if (!memo.has(key)) memo.set(key, create());
      return memo.get(key) as T;
    },
    loaders: createLoaders(tx),
    requestId: request.headers.get('x-request-id') ?? 'none',
    client: {
      ip: clientIp(request, req, deps.trustProxyHops ?? 0),
      userAgent: request.headers.get('user-agent'),
    },
    refreshTokenCookie: deps.refreshTokenCookie?.(request, req) ?? null,
  });
  return Object.defineProperty(ctx, 'db', {
    enumerable: true,
    configurable: true,
    get: () => {
      db ??= requestDb(tx, deps.db);
      return db;
    },
  }) as typeof ctx & { readonly db: RequestDb };
}

/**
 * The claims a trusted issuer's request runs with: our standard set, `sub` being our user's
 * id, so the same policies apply; `provider` names the issuer. No session_id: the session
 * lives at the issuer.
 */
function externalClaims(ext: ExternalIdentity, user: ExternalUser): Claims {
  return {
    iss: ext.issuer,
    sub: user.id,
    aud: 'authenticated',
    exp: ext.exp,
    iat: ext.iat,
    role: 'authenticated',
    email: user.email ?? '',
    app_metadata: user.appMetadata,
    user_metadata: user.userMetadata,
    aal: 'aal1',
    amr: [{ method: 'external_jwt', provider: ext.provider, timestamp: ext.iat }],
    is_anonymous: false,
    provider: ext.provider,
  };
}

/**
 * A refused token's cause for the log: an AuthError's reason or message, otherwise the
 * error's class and message (jose's and discovery's name the failed check, never the token).
 */
function whyRefused(err: unknown, fallback: string): string {
  if (err instanceof TokenRefused) return err.why;
  if (err instanceof AuthError) {
    const reason = err.extensions.reason;
    return typeof reason === 'string' ? reason : err.message;
  }
  return err instanceof Error ? describeError(err) : fallback;
}

/** A failure before the request may start: coded for the client, never driver text. */
function earlyError(err: unknown): GraphQLError {
  if (err instanceof AuthError) return err;
  if (isDatabaseUnavailable(err)) return databaseUnavailableError();
  return new GraphQLError('Unexpected error.', { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

/**
 * The client's address: the socket's, or with `hops` trusted proxies in front, the entry of
 * X-Forwarded-For that the outermost trusted proxy wrote (anything left of it is client-made).
 * That entry must be an IP address; anything else (a client's `<script>` when no proxy is in
 * front after all, a hostname, `unknown`) falls back to the socket's address, so no text a
 * client chose is ever stored or rate-limited as an address.
 */
export function clientIp(
  request: RequestHeaders | null,
  req: IncomingMessage | undefined,
  hops: number,
): string | null {
  const socket = req?.socket.remoteAddress ?? null;
  if (hops === 0) return socket;
  const header = request ? request.headers.get('x-forwarded-for') : req?.headers['x-forwarded-for'];
  const forwarded = (typeof header === 'string' ? header : '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const entry = forwarded[forwarded.length - hops] ?? forwarded[0];
  return (entry !== undefined && ipAddress(entry)) || socket;
}

/**
 * `text` as a bare IP address, or null. Proxies that add a port (`203.0.113.7:5123`,
 * `[2001:db8::7]:443`) or brackets are unwrapped; an IPv6 zone is dropped (it means nothing
 * off the proxy's own link and would let a client append free text).
 */
function ipAddress(text: string): string | null {
  const wrapped = /^\[([^\]]*)\](?::\d{1,5})?$/.exec(text) ?? /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text);
  const bare = (wrapped?.[1] ?? text).replace(/%.*$/, '').toLowerCase();
  return isIP(bare) === 0 ? null : bare;
}
