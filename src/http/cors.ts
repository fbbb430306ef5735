import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Who may call /graphql from a browser: `origins` (null: any), and whether listed origins may
 * send credentials (cookie mode, where the refresh token is a cookie).
 */
export type CorsPolicy = { origins: readonly string[] | null; credentials: boolean };

/**
 * CORS for /graphql, answered here for every request rather than by graphql-yoga, so that
 * documents served outside yoga's pipeline (src/graphql/known-documents.ts) carry exactly the
 * same headers as those served by it.
 *
 * A configured origin (`origins` null: any) is echoed. Access-Control-Allow-Credentials is sent
 * in cookie mode alone, and only to an origin listed by name: "any" never lets a page send the
 * refresh-token cookie along (outside cookie mode the API reads no cookies, so no credentialed
 * request is ever needed). Any other origin gets no CORS header at all, so its browser reads
 * nothing. Answers vary by Origin.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, policy: CorsPolicy): void {
  const origin = req.headers.origin;
  const { origins } = policy;
  res.setHeader('vary', 'Origin');
  if (origin === undefined || (origins !== null && !origins.includes(origin))) return;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-allow-methods', 'GET, POST');
  if (policy.credentials && origins !== null) res.setHeader('access-control-allow-credentials', 'true');
}

/** A preflight: 204 with the CORS headers, and the request headers it asked for allowed. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse, policy: CorsPolicy): void {
  applyCors(req, res, policy);
  const asked = req.headers['access-control-request-headers'];
  if (res.hasHeader('access-control-allow-origin') && asked) {
    res.setHeader('access-control-allow-headers', asked);
    res.setHeader('vary', 'Access-Control-Request-Headers, Origin');
  }
  // Safari waits for a body on a 204 without a Content-Length of 0.
  res.writeHead(204, { 'content-length': '0' });
  res.end();
}
