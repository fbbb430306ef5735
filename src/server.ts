import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import type { DestinationStream } from 'pino';
import { type AccessTokens, createAccessTokens } from './auth/access-token.js';
import { type AdminService, createAdminService } from './auth/admin.js';
import { createDiscovery } from './auth/discovery.js';
import { createEmailFlows } from './auth/email-flows.js';
import { createExternalVerifier } from './auth/external.js';
import { createGrants } from './auth/grants.js';
import { createIdentityService } from './auth/identities.js';
import { type Maintenance, startMaintenance } from './auth/maintenance.js';
import { createMfaService } from './auth/mfa.js';
import { type BrowserAnswer, createOidcBroker } from './auth/oidc.js';
import { createPasswordHasher } from './auth/password.js';
import { createRateLimiter } from './auth/rate-limit.js';
import { type AuthService, createAuthService } from './auth/service.js';
import { createKeyStore, loadSealingKeys } from './auth/signing-keys.js';
import type { Config } from './config.js';
import { type Context, type ContextDeps, clientIp, createContext } from './context.js';
import { createPools, loginUrl, type Pools } from './db/client.js';
import { databaseUnavailableError, isDatabaseUnavailable } from './db/errors.js';
import { migrateAndProvision, SHIPPED_MIGRATIONS } from './db/migrate.js';
import { EXAMPLE_DOCUMENT } from './graphiql-example.js';
import { schema } from './graphql/index.js';
import { useContractErrorCodes, useRequestTransaction } from './graphql/plugins.js';
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

/** Migrates the database behind `adminUrl`, then builds the HTTP server on its own role. */
export async function createGateway(
  config: Config,
  adminUrl: string,
  opts: { onQuery?: (query: string) => void; logDestination?: DestinationStream } = {},
): Promise<Gateway> {
  const log = createLogger(config.logLevel, opts.logDestination);
  const sealing = loadSealingKeys(config, (line) => log.warn(line));
  const secrets = await migrateAndProvision(adminUrl, sealing);
  const base = config.db.poolUrl ?? adminUrl;
  const appUrl = loginUrl(base, secrets.app.role, secrets.app.password);
  const pools = createPools(
    { app: appUrl, auth: loginUrl(base, secrets.auth.role, secrets.auth.password) },
    config,
    opts.onQuery,
  );
  const keys =
    config.jwt.alg === 'ES256'
      ? createKeyStore(pools.authSql, sealing, config.jwt.accessTtlS, config.jwt.keysReloadS)
      : undefined;
  await keys?.ready();
  const discover = createDiscovery();
  const tokens = createAccessTokens({
    mode: keys ? { alg: 'ES256', keys } : { alg: 'HS256', secret: config.jwt.secret ?? secrets.jwtSecret },
    issuer: config.jwt.issuer,
    ttlS: config.jwt.accessTtlS,
    external: config.trustedIssuers.length > 0 ? createExternalVerifier(config.trustedIssuers, discover) : undefined,
  });
  const metrics = createMetrics();
  const limiter = createRateLimiter(pools.authSql, config.rateLimits, metrics.rateLimited);
  const grants = createGrants({ tokens, config });
  const passwords = createPasswordHasher(config.argon2);
  const mailer = createMailer(config.mail, config.mail.smtpUrl, log);
  const email = createEmailFlows({
    db: pools.auth,
    grants,
    limiter,
    passwords,
    mailer,
    secretKey: secrets.refreshKey,
    config,
  });
  const auth = createAuthService({
    db: pools.auth,
    tokens,
    passwords,
    limiter,
    refreshKey: secrets.refreshKey,
    config,
    email,
  });
  const identities = createIdentityService({
    db: pools.auth,
    grants,
    limiter,
    providers: config.oidc.providers,
  });
  const mfa = createMfaService({
    db: pools.auth,
    grants,
    limiter,
    secretKey: secrets.refreshKey,
    issuer: config.mfaIssuer,
  });
  const maintenance = startMaintenance(pools.auth, config, log);
  const oidc = createOidcBroker({ db: pools.auth, config, discover, limiter, log });

  const admin = createAdminService(pools.auth);

  // Built once: every request's context takes these, nothing per request.
  const contextDeps: ContextDeps = {
    db: pools.app,
    tokens,
    services: { auth, admin, identities, oidc, mfa, email, metrics, log },
    postgraphileSettings: config.postgraphileSettings,
    trustProxyHops: config.trustProxyHops,
    acquireTimeoutMs: config.db.acquireTimeoutMs,
    prepare: config.db.prepare,
  };

  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: config.graphiql ? { title: 'authgate', defaultQuery: EXAMPLE_DOCUMENT } : false,
    // The bundled GraphiQL: works without a CDN.
    renderGraphiQL,
    // Never dev mode: no stack or driver text reaches a client.
    maskedErrors: {
      isDev: false,
      maskError: (error, message) =>
        isDatabaseUnavailable(error) ? databaseUnavailableError() : maskError(error, message, false),
    },
    logging: yogaLogger(log),
    context: ({ request, req }) => createContext(request, req, contextDeps),
    cors: config.corsOrigins === null ? undefined : { origin: config.corsOrigins, methods: ['GET', 'POST'] },
    plugins: [
      // Browsers attach no bearer token on their own, but a simple (unpreflighted) request
      // must still not reach the API: it needs a JSON content type or one of these headers.
      useCSRFPrevention({
        requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight', 'x-apollo-operation-name', 'authorization'],
      }),
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
      useRequestTransaction(),
      useContractErrorCodes(),
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

  // Headers up to 128 KiB reach us, so an oversized bearer token is answered with
  // UNAUTHENTICATED like any other bad token instead of a bare 431.
  const server = createServer({ maxHeaderSize: 128 * 1024 }, (req, res) => {
    if (draining) res.setHeader('Connection', 'close');
    // One id per request, in the logs and the response; a client's own id is kept if sane.
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    req.headers['x-request-id'] = requestId;
    res.setHeader('x-request-id', requestId);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
      });
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
    const provider = /^\/auth\/([a-z0-9][a-z0-9_-]{0,31})\/(start|callback)$/.exec(path ?? '');
    if (provider && req.method === 'GET') {
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
      return;
    }
    if (req.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!JSON_TYPES.has(type)) {
        return json(res, 415, graphqlError('Send the request as application/json.', 'BAD_USER_INPUT'));
      }
      const length = Number(req.headers['content-length'] ?? Number.NaN);
      if (Number.isNaN(length)) return json(res, 411, graphqlError('A POST needs a Content-Length.', 'BAD_USER_INPUT'));
      if (length > config.maxBodyBytes) {
        return json(
          res,
          413,
          graphqlError(`The body may have at most ${config.maxBodyBytes} bytes.`, 'BAD_USER_INPUT'),
        );
      }
    }
    void yoga(req, res);
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
    mailer,
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
      keys?.stop();
      maintenance.stop();
      await mailer.idle();
      mailer.close();
      await pools.close();
    },
  };
}

const JSON_TYPES = new Set(['application/json', 'application/graphql']);

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

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
