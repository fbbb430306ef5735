import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { createYoga, maskError, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { DestinationStream } from 'pino';
import { type LoadedApp, NO_APP } from './app-loader.js';
import type { AccessTokens } from './auth/access-token.js';
import { AuthError } from './auth/errors.js';
import type { AuthService } from './auth/flows/account/index.js';
import type { AdminService } from './auth/flows/admin/index.js';
import type { BrowserAnswer } from './auth/flows/oidc/index.js';
import { createAuth } from './auth/index.js';
import type { Maintenance } from './auth/maintenance.js';
import { loadSealingKeys, provisionSigningKeys } from './auth/signing-keys.js';
import { isWorker, workerMetrics } from './cluster.js';
import { type Config, ConfigError } from './config.js';
import { type Context, type ContextDeps, clientIp, createContext } from './context.js';
import { createPools, loginUrl, type Pools } from './db/client.js';
import { connectPostgres } from './db/connect.js';
import { databaseUnavailableError, isDatabaseUnavailable, SessionEndedError } from './db/errors.js';
import { migrateAndProvision, migrateApp, SHIPPED_MIGRATIONS } from './db/migrate.js';
import { warnIfPostgresUnpatched } from './db/postgres-fix.js';
import { EXAMPLE_DOCUMENT } from './graphiql-example.js';
import { useCompiledQueries } from './graphql/compiled-queries.js';
import { buildSchema } from './graphql/index.js';
import { type KnownDocuments, knownDocuments } from './graphql/known-documents.js';
import { useContractErrorCodes, useRequestTransaction } from './graphql/plugins.js';
import { loadTrustedDocuments, useTrustedDocuments } from './graphql/trusted-documents.js';
import { answerPreflight, applyCors } from './http/cors.js';
import { bundledGraphiQL } from './http/graphiql.js';
import { mailLinkPage } from './http/mail-link-page.js';
import { refreshTokenCookies } from './http/refresh-token-cookie.js';
import { createLogger, type Logger, yogaLogger } from './log.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { createMetrics, type Metrics } from './metrics.js';

type ServerContext = { req: IncomingMessage; res: ServerResponse };

export type Gateway = {
  server: Server;
  yoga: YogaServerInstance<ServerContext, Context>;
  pools: Pools;
  log: Logger;
  auth: AuthService;
  admin: AdminService;
  /** The gateway's own login (role and password): for tests and tools, never logged. */
  loginUrl: string;
  tokens: AccessTokens;
  metrics: Metrics;
  mailer: Mailer;
  maintenance: Maintenance;
  listen: (port: number, host?: string) => Promise<number>;
  /** Stops taking requests, lets in-flight ones finish, then closes the pools. */
  close: (drainMs?: number) => Promise<void>;
};

/**
 * Migrates the database behind `adminUrl` (ours, then the app's), then builds the HTTP server
 * on its own role. An app's GraphQL modules must have been imported before (see loadApp).
 */
export async function createGateway(
  config: Config,
  adminUrl: string,
  opts: {
    onQuery?: (query: string) => void;
    /** Every statement of the auth path's pool (sign-in, refresh…): for the bench's round-trip count. */
    onAuthQuery?: (query: string) => void;
    logDestination?: DestinationStream;
    app?: LoadedApp;
  } = {},
): Promise<Gateway> {
  const log = createLogger(config.logLevel, opts.logDestination, config.logFormat);
  warnIfPostgresUnpatched((line) => log.warn(line));
  const app = opts.app ?? NO_APP;
  // Built before the database is touched: a manifest that does not match it stops start-up first.
  const schema = buildSchema();
  const trustedDocuments =
    config.trustedDocuments.files.length > 0 ? loadTrustedDocuments(config.trustedDocuments.files, schema) : null;
  const trusted = trustedDocuments
    ? useTrustedDocuments(trustedDocuments, { only: config.trustedDocuments.only })
    : null;
  const sealing = loadSealingKeys(config, (line) => log.warn(line));
  const secrets = await migrateAndProvision(adminUrl, async (sql) => {
    await provisionSigningKeys(sealing)(sql);
    await migrateApp(sql, app.migrations);
  });
  if (app.configFile !== null) await checkAppRls(adminUrl, app, log);
  const base = config.db.poolUrl ?? adminUrl;
  const appUrl = loginUrl(base, secrets.app.role, secrets.app.password);
  const pools = createPools(
    { app: appUrl, auth: loginUrl(base, secrets.auth.role, secrets.auth.password) },
    config,
    opts.onQuery,
    opts.onAuthQuery,
  );
  const metrics = createMetrics();
  const mailer = createMailer(config.mail, config.mail.smtpUrl, log);
  const authPath = await createAuth({
    pools,
    config,
    sealing,
    secrets,
    mailer,
    log,
    onLimited: metrics.rateLimited,
  });
  const { auth, admin, identities, oidc, mfa, passkeys, email, organizations, captcha, tokens, keys, maintenance } =
    authPath;

  // Built once: every request's context takes these, nothing per request.
  const contextDeps: ContextDeps = {
    db: pools.app,
    tokens,
    services: { auth, admin, identities, oidc, mfa, passkeys, email, organizations, captcha, metrics, log },
    postgraphileSettings: config.postgraphileSettings,
    trustProxyHops: config.trustProxyHops,
    acquireTimeoutMs: config.db.acquireTimeoutMs,
    prepare: config.db.prepare,
    ...(config.refreshTokenCookie
      ? { refreshTokenCookie: refreshTokenCookies(config.refreshTokenCookie, config.trustProxyHops) }
      : {}),
  };

  const graphiql = config.graphiql ? bundledGraphiQL(GRAPHIQL_OPTIONS) : undefined;
  const maskGatewayError = (error: unknown, message: string): Error =>
    isDatabaseUnavailable(error)
      ? databaseUnavailableError()
      : sessionEnded(error)
        ? new AuthError('UNAUTHENTICATED')
        : maskError(error, message, false);
  const known: KnownDocuments | null = config.fastPath
    ? knownDocuments({
        // Built below, with this plugin among its own; read per request.
        yoga: (): YogaServerInstance<object, object> => yoga as unknown as YogaServerInstance<object, object>,
        trusted: trustedDocuments,
        only: config.trustedDocuments.only,
        maskError: maskGatewayError,
        log,
        served: metrics.knownDocument,
      })
    : null;
  const yoga: YogaServerInstance<ServerContext, Context> = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    // GraphQL over HTTP's name for a persisted document's id, read by useTrustedDocuments.
    ...(trusted ? { extraParamNames: ['documentId'] } : {}),
    landingPage: false,
    graphiql: config.graphiql ? GRAPHIQL_OPTIONS : false,
    // The bundled GraphiQL: works without a CDN. Its options never change, so it is rendered
    // once, and the CSP that names its script's hash is sure to match the page served.
    ...(graphiql ? { renderGraphiQL: graphiql.html } : {}),
    // Never dev mode: no stack or driver text reaches a client.
    maskedErrors: { isDev: false, maskError: maskGatewayError },
    // The size limit is ours (graphqlRequest: a POST needs a Content-Length of at most
    // MAX_BODY_BYTES, and Node's parser reads no byte past it). Yoga's own limit would pipe
    // every body through a TransformStream (a stream pipeline, an AbortController) to count
    // bytes that are already bounded: a tenth of a small query's CPU.
    maxRequestBodySize: false,
    logging: yogaLogger(log),
    // Answered in graphqlRequest for every request (src/http/cors.ts), known documents included.
    cors: false,
    plugins: [
      useRequestContext(contextDeps),
      ...(config.refreshTokenCookie ? [useRefreshTokenCookie()] : []),
      // Browsers attach no bearer token on their own, but a simple (unpreflighted) request
      // must still not reach the API: it needs a JSON content type or one of these headers.
      useCSRFPrevention({
        requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight', 'x-apollo-operation-name', 'authorization'],
      }),
      // Runs on the request's params: in only-mode a stranger's text is refused before it is parsed.
      ...(trusted ? [trusted] : []),
      ...new EnvelopArmor({
        maxDepth: { n: config.limits.depth },
        maxAliases: { n: config.limits.aliases },
        maxTokens: { n: config.limits.tokens },
        maxDirectives: { n: config.limits.directives },
        costLimit: { maxCost: config.limits.cost },
        // Suggestions ("did you mean …") map the schema for a stranger; off where introspection is.
        blockFieldSuggestion: { enabled: !config.introspection },
      }).protect().plugins,
      ...(config.introspection ? [] : [useDisableIntrospection()]),
      ...(known ? [known.plugin] : []),
      // Before the request transaction, which calls the execute function this one sets.
      ...(config.fastPath ? [useCompiledQueries()] : []),
      useRequestTransaction(),
      useContractErrorCodes(),
      useHttpContract(graphiql?.csp),
    ],
  });

  let draining = false;
  const ready = async (): Promise<boolean> => {
    try {
      const rows = await withTimeout(
        pools.app<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`,
        2000,
      );
      return (rows[0]?.n ?? 0) >= SHIPPED_MIGRATIONS;
    } catch {
      return false;
    }
  };

  const baseHeaders = securityHeaders(config.hstsMaxAgeS);
  // Mailed links that point at the gateway itself (the default) open a page that completes them.
  const linkPage = mailLinkPage(config);
  const metricsDigest = config.metricsToken === undefined ? undefined : sha256(config.metricsToken);
  // A worker of WORKERS > 1 answers for all of them (src/cluster.ts).
  const metricsText = isWorker() ? workerMetrics(metrics.registry) : () => metrics.registry.metrics();

  // Credentials (the refresh-token cookie) only from origins named one by one, never from "any".
  const cors = { origins: config.corsOrigins, credentials: config.refreshTokenCookie !== null };
  const graphqlRequest = (req: IncomingMessage, res: ServerResponse) => {
    // OPTIONS: CORS preflights, answered by yoga's CORS handling.
    if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'OPTIONS') {
      res.setHeader('allow', 'GET, POST, OPTIONS');
      return json(res, 405, graphqlError('/graphql answers GET and POST.', 'BAD_USER_INPUT'));
    }
    if (req.method === 'OPTIONS') return answerPreflight(req, res, cors);
    applyCors(req, res, cors);
    if (req.method === 'POST') {
      const [type = '', ...params] = (req.headers['content-type'] ?? '').split(';');
      const mediaType = type.trim().toLowerCase();
      if (!JSON_TYPES.has(mediaType)) {
        return json(res, 415, graphqlError('Send the request as application/json.', 'BAD_USER_INPUT'));
      }
      // Media types are case-insensitive (RFC 9110), but yoga compares them byte for byte:
      // it gets the spelling it knows, parameters (charset) kept.
      req.headers['content-type'] = [mediaType, ...params.map((p) => p.trim()).filter((p) => p.length > 0)].join('; ');
      const length = Number(req.headers['content-length'] ?? Number.NaN);
      if (Number.isNaN(length)) return json(res, 411, graphqlError('A POST needs a Content-Length.', 'BAD_USER_INPUT'));
      if (length > config.maxBodyBytes) {
        return json(
          res,
          413,
          graphqlError(`The body may have at most ${config.maxBodyBytes} bytes.`, 'BAD_USER_INPUT'),
        );
      }
      if (known && length > 0) {
        // Read here, bounded by the Content-Length above: a known document is served from it,
        // anything else goes to yoga with the body it would have read (whatwg-node takes req.body).
        return readBody(req, (body) => {
          if (known.serve(req, res, body)) return;
          (req as IncomingMessage & { body?: Buffer }).body = body;
          void yoga(req, res);
        });
      }
    }
    void yoga(req, res);
  };

  // Headers up to 128 KiB reach us, so an oversized bearer token is answered with
  // UNAUTHENTICATED like any other bad token instead of a bare 431.
  const server = createServer({ maxHeaderSize: 128 * 1024 }, (req, res) => {
    for (const [name, value] of baseHeaders) res.setHeader(name, value);
    if (draining) res.setHeader('Connection', 'close');
    // One id per request, in the logs and the response; a client's own id is kept if sane.
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    req.headers['x-request-id'] = requestId;
    res.setHeader('x-request-id', requestId);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/graphql' || path === '/graphql/') return graphqlRequest(req, res);
    const provider = /^\/auth\/([a-z0-9][a-z0-9_-]{0,31})\/(start|callback)$/.exec(path);
    if (!provider && !OWN_ROUTES.has(path) && path !== linkPage?.path) {
      return json(res, 404, graphqlError('Not found. The API is at /graphql.', 'BAD_USER_INPUT'));
    }
    // HEAD for probes of the fixed routes; a provider route starts a flow, so GET alone.
    const allow = provider ? 'GET' : 'GET, HEAD';
    if (!allow.split(', ').includes(req.method ?? '')) {
      res.setHeader('allow', allow);
      return json(res, 405, graphqlError(`${path} answers ${allow} only.`, 'BAD_USER_INPUT'));
    }
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (linkPage && path === linkPage.path) {
      // The URL carries the link's token: never cached, never sent on as a referrer (no-referrer is on every answer).
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': linkPage.csp,
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : linkPage.html);
      return;
    }
    if (path === '/metrics') {
      if (!metricsDigest && config.env === 'production') {
        // Metrics name operations and show load and error rates: not for strangers.
        return json(
          res,
          404,
          graphqlError(
            'Metrics are off in production. Set METRICS_TOKEN and scrape with Authorization: Bearer <METRICS_TOKEN>.',
            'FORBIDDEN',
          ),
        );
      }
      if (metricsDigest && !bearerMatches(req.headers.authorization, metricsDigest)) {
        res.setHeader('www-authenticate', 'Bearer realm="metrics"');
        return json(res, 401, graphqlError('Send Authorization: Bearer <METRICS_TOKEN>.', 'UNAUTHENTICATED'));
      }
      metricsText().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
          res.end(text);
        },
        () => json(res, 503, { status: 'unavailable' }),
      );
      return;
    }
    if (path === '/.well-known/jwks.json') {
      if (!keys) return json(res, 200, { keys: [] });
      void keys.jwks().then(
        (body) => json(res, 200, body, 'public, max-age=60'),
        () => json(res, 503, { status: 'unavailable' }),
      );
      return;
    }
    if (path === '/readyz') {
      if (draining) return json(res, 503, { status: 'draining' });
      void ready().then((ok) => json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'unavailable' }));
      return;
    }
    if (provider) {
      const [, name, step] = provider as unknown as [string, string, 'start' | 'callback'];
      const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
      const answer =
        step === 'start'
          ? oidc.start(name, query, { ip: clientIp(null, req, config.trustProxyHops) })
          : oidc.callback(name, query, req.headers.cookie ?? null);
      void answer.then(
        (a) => browserAnswer(res, a),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, 'provider route failed');
          json(res, 500, graphqlError('Unexpected error.', 'INTERNAL_SERVER_ERROR'));
        },
      );
    }
  });

  // Requests Node refuses before they reach the handler (malformed, headers past the limit,
  // too slow) get the same JSON error shape instead of Node's bare status line. The socket is
  // a net.Socket (Node's docs), typed as the wider Duplex.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Gone, or bytes already sent on this connection (a response may still be in flight):
    // closing is the only answer that cannot corrupt another.
    if (!socket.writable || socket.bytesWritten > 0) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify(graphqlError(`${STATUS_CODES[status]}.`, 'BAD_USER_INPUT'));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  return {
    server,
    yoga,
    pools,
    log,
    auth,
    admin,
    loginUrl: appUrl,
    tokens,
    metrics,
    // Idle once queued token writes have sent their mails too.
    mailer: { ...mailer, idle: email.idle },
    maintenance,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      }),
    close: async (drainMs = 0) => {
      draining = true;
      // Keep accepting briefly so requests already on the wire are not reset (Node >= 19
      // destroys connections whose request is not parsed yet when close() runs).
      if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      // Key reloads, maintenance and the imported-hash watch: no timer outlives the pools.
      authPath.stop();
      await email.idle();
      mailer.close();
      await pools.close();
    },
  };
}

const JSON_TYPES = new Set(['application/json', 'application/graphql']);
const OWN_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/.well-known/jwks.json']);
const GRAPHIQL_OPTIONS = { title: 'authgate', defaultQuery: EXAMPLE_DOCUMENT };

/** Headers on every response; the GraphiQL page replaces the CSP with its own. */
function securityHeaders(hstsMaxAgeS: number): Array<[string, string]> {
  const headers: Array<[string, string]> = [
    ['x-content-type-options', 'nosniff'],
    ['referrer-policy', 'no-referrer'],
    // Nothing here is a page to load resources or to be framed: JSON is never a document.
    ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
    ['x-frame-options', 'DENY'],
  ];
  if (hstsMaxAgeS > 0) headers.push(['strict-transport-security', `max-age=${hstsMaxAgeS}`]);
  return headers;
}

/**
 * The request's context, written onto yoga's context object itself: yoga merges what its
 * `context` option returns with Object.assign, which would read (and so build) every lazy
 * part of it, such as `db`, on every request.
 */
function useRequestContext(deps: ContextDeps): Plugin<Context> {
  return {
    onContextBuilding({ context }) {
      const { request, req } = context as unknown as ServerContext & { request: Request };
      return createContext(request, req, deps, context).then(() => undefined);
    },
  };
}

/**
 * Cookie mode: the Set-Cookie the request's resolvers decided (src/graphql/refresh-token-cookie.ts),
 * written on node:http's response before either path (yoga or known documents) writes its head.
 */
function useRefreshTokenCookie(): Plugin<Context> {
  return {
    onExecute: () => ({
      onExecuteDone({ args }) {
        const { refreshTokenCookie, res } = args.contextValue as Context & Partial<ServerContext>;
        const header = refreshTokenCookie?.setCookie;
        if (header && res && !res.headersSent) res.setHeader('set-cookie', header);
      },
    }),
  };
}

const CODE_BY_STATUS: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 429: 'RATE_LIMITED' };

/**
 * Yoga's own answers brought to the gateway's HTTP contract: the GraphiQL page runs under its
 * own CSP, CORS answers vary by Origin, and a 4xx yoga leaves without a JSON error (406 for an
 * Accept it cannot serve, 404/415 should one get past the router) gets one.
 */
function useHttpContract(graphiqlCsp: (() => string) | undefined): Plugin {
  return {
    onResponse({ response, setResponse, fetchAPI }) {
      const vary = response.headers.get('vary');
      if (!/(^|,)\s*origin\s*(,|$)/i.test(vary ?? ''))
        response.headers.set('vary', vary ? `${vary}, Origin` : 'Origin');
      const type = response.headers.get('content-type') ?? '';
      if (type.startsWith('text/html')) {
        // Without GraphiQL no page is served, and whatever HTML this is keeps the strict CSP.
        if (graphiqlCsp) response.headers.set('content-security-policy', graphiqlCsp());
        return;
      }
      if (response.status < 400 || response.status >= 500 || type.includes('json')) return;
      const headers = new fetchAPI.Headers(response.headers);
      headers.set('content-type', 'application/json; charset=utf-8');
      headers.delete('content-length');
      const code = CODE_BY_STATUS[response.status] ?? 'BAD_USER_INPUT';
      const message = `${STATUS_CODES[response.status] ?? 'Bad request'}.`;
      setResponse(
        new fetchAPI.Response(JSON.stringify(graphqlError(message, code)), { status: response.status, headers }),
      );
    },
  };
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Whether `header` is `Bearer <secret>`; digests are compared, so in constant time whatever the length. */
function bearerMatches(header: string | undefined, secretDigest: Buffer): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
  return given !== undefined && timingSafeEqual(sha256(given), secretDigest);
}

function graphqlError(message: string, code: string) {
  return { errors: [{ message, extensions: { code } }] };
}

function browserAnswer(res: ServerResponse, a: BrowserAnswer): void {
  if (a.cookies.length > 0) res.setHeader('set-cookie', a.cookies);
  // The provider URL carries state and nonce: no cache, no referrer.
  res.setHeader('referrer-policy', 'no-referrer');
  if (a.kind === 'redirect') {
    res.writeHead(302, { location: a.location, 'cache-control': 'no-store' });
    res.end();
  } else {
    json(res, a.status, graphqlError(a.message, a.code));
  }
}

function json(res: ServerResponse, status: number, body: unknown, cache = 'no-store'): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': cache });
  res.end(JSON.stringify(body));
}

/** The request's body, once it has all arrived; a request that breaks off is simply dropped. */
function readBody(req: IncomingMessage, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A resolver's error that is, underneath, the request's session having ended. */
function sessionEnded(error: unknown): boolean {
  const original = (error as { originalError?: unknown }).originalError;
  return error instanceof SessionEndedError || original instanceof SessionEndedError;
}

/**
 * An app's tables reachable by anon or authenticated without row level security: a loud
 * warning at start, or (strictRls) no start at all. The RLS doctor's error-level findings.
 */
async function checkAppRls(adminUrl: string, app: LoadedApp, log: Logger): Promise<void> {
  // The doctor's catalogue queries matter only to an app's start: loaded then, not for authgate alone.
  const { runDoctor } = await import('./ops/rls-doctor.js');
  const sql = connectPostgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const errors = (await runDoctor(sql)).filter((f) => f.level === 'error');
    for (const f of errors) log.warn({ check: f.check, object: f.object }, `RLS: ${f.why} Fix: ${f.fix}`);
    if (errors.length > 0 && app.config.strictRls) {
      throw new ConfigError(
        `strictRls: ${errors.length} problem(s) with row level security, e.g. ${errors[0]!.object}: ${errors[0]!.why} (npx authgate doctor lists them)`,
      );
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
