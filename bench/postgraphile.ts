/**
 * PostGraphile 5 on the bench's database, as another GraphQL server to compare the gateway
 * with: the Amber preset, schema `public` (profiles, notes), node-postgres pool of 10 as the
 * gateway's login role (not a superuser; it switches to anon/authenticated per transaction
 * as the gateway does), served by grafserv on node:http.
 *
 * Per request: grafserv parses and validates the document (grafast caches its plan), then
 * `grafast.context` checks the bearer token with jose against the gateway's JWKS (ES256) and
 * sets pgSettings `{ role, 'request.jwt.claims' }` (role anon without a token), which
 * PostGraphile applies in a transaction around its SQL: BEGIN; set_config(...); the SELECT;
 * COMMIT, each awaited (node-postgres does not pipeline).
 *
 * What it does not do that the gateway does: no live-session check (auth.require_live_session),
 * so a signed-out session or a banned user is served until the token expires; none of the
 * gateway's plugins (rate limits, CSRF, armor), its logging or metrics.
 *
 * Two listeners on one PostGraphile instance: PORT verifies every token's signature;
 * PORT_CACHED keeps verified tokens until exp like the gateway (bench/token-cache.ts).
 *
 * Env: PGL_DATABASE_URL, PORT, PORT_CACHED, JWKS_URL, JWT_ISSUER (authgate), DB_POOL_MAX (10),
 * PGL_SCHEMA_FILE (writes the printed schema there), EXIT_WITH_PARENT.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tokenVerifier } from './token-cache.js';

// PostGraphile 5 wants Node 22; on Node 20 it runs with this one addition. Set before
// PostGraphile's modules load, hence the dynamic imports below.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

const dbUrl = process.env.PGL_DATABASE_URL;
const jwksUrl = process.env.JWKS_URL;
if (!dbUrl || !jwksUrl) {
  console.error('postgraphile: PGL_DATABASE_URL and JWKS_URL are required');
  process.exit(1);
}
const port = Number(process.env.PORT ?? 4200);
const portCached = Number(process.env.PORT_CACHED ?? 4201);
const issuer = process.env.JWT_ISSUER ?? 'authgate';

const { postgraphile } = await import('postgraphile');
const { PostGraphileAmberPreset } = await import('postgraphile/presets/amber');
const { makePgService } = await import('postgraphile/adaptors/pg');
const { grafserv } = await import('postgraphile/grafserv/node');
const { printSchema } = await import('postgraphile/graphql');

const verifyEach = await tokenVerifier(jwksUrl, issuer, false);
const verifyCached = await tokenVerifier(jwksUrl, issuer, true);

class Unauthenticated extends Error {
  override name = 'Unauthenticated';
}

const pgl = postgraphile({
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: dbUrl,
      schemas: ['public'],
      poolConfig: { max: Number(process.env.DB_POOL_MAX ?? 10), application_name: 'authgate-postgraphile' },
    }),
  ],
  grafserv: { graphiql: false, watch: false },
  grafast: {
    explain: false,
    async context(requestContext) {
      const req = requestContext.node?.req;
      const authorization = req?.headers.authorization;
      if (!authorization) return { pgSettings: { role: 'anon' } };
      const verify = req.socket.localPort === portCached ? verifyCached : verifyEach;
      const claims = await verify(authorization);
      if (!claims) throw new Unauthenticated('invalid bearer token');
      return { pgSettings: { role: claims.role, 'request.jwt.claims': JSON.stringify(claims) } };
    },
  },
});

if (process.env.PGL_SCHEMA_FILE) writeFileSync(process.env.PGL_SCHEMA_FILE, printSchema(await pgl.getSchema()));

const serv = pgl.createServ(grafserv);
// createHandler is grafserv's plain (req, res) handler; addTo would also claim /healthz.
const handler = serv.createHandler();
const onRequest = (req: IncomingMessage, res: ServerResponse) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  handler(req, res);
};
const servers = [createServer(onRequest), createServer(onRequest)];
const listen = (s: (typeof servers)[number], p: number) =>
  new Promise<number>((resolve) => s.listen(p, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
const ports = [await listen(servers[0]!, port), await listen(servers[1]!, portCached)];
console.log(`postgraphile: listening on 127.0.0.1:${ports.join(' and ')} (the second caches tokens)`);

const stop = () => {
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
  void Promise.resolve(pgl.release()).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by bench/run.ts with a pipe on stdin: when the bench goes away, so does this server.
if (process.env.EXIT_WITH_PARENT === '1') process.stdin.on('end', stop).on('error', stop).resume();
