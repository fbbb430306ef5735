import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * CORS for /graphql, answered here for every request rather than by graphql-yoga, so that
 * documents served outside yoga's pipeline (src/graphql/known-documents.ts) carry exactly the
 * same headers as those served by it.
 *
 * A configured origin (`origins` null: any) is echoed without Access-Control-Allow-Credentials:
 * the API reads no cookies, so no credentialed request is ever needed. Any other origin gets no
 * CORS header at all, so its browser reads nothing. Answers vary by Origin.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, origins: readonly string[] | null): void {
  const origin = req.headers.origin;
  res.setHeader('vary', 'Origin');
  if (origin === undefined || (origins !== null && !origins.includes(origin))) return;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-allow-methods', 'GET, POST');
}

/** A preflight: 204 with the CORS headers, and the request headers it asked for allowed. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse, origins: readonly string[] | null): void {
  applyCors(req, res, origins);
  const asked = req.headers['access-control-request-headers'];
  if (res.hasHeader('access-control-allow-origin') && asked) {
    res.setHeader('access-control-allow-headers', asked);
    res.setHeader('vary', 'Access-Control-Request-Headers, Origin');
  }
  // Safari waits for a body on a 204 without a Content-Length of 0.
  res.writeHead(204, { 'content-length': '0' });
  res.end();
}
