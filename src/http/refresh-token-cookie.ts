import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RefreshTokenCookieSettings } from '../config.js';

/**
 * Cookie mode (REFRESH_TOKEN_COOKIE=on, docs/cookie-sessions.md): one request's refresh-token
 * cookie. `presented` is the token the request's Cookie header carries; `issue` and `clear`
 * decide the one Set-Cookie its answer sends (the last call wins), which the gateway writes
 * once execution is done (useRefreshTokenCookie in src/server.ts). The context names the same
 * shape (RefreshTokenCookie in src/context.ts): this layer imports no other.
 */
export type RefreshTokenCookieJar = {
  readonly presented: string | null;
  readonly setCookie: string | null;
  issue: (token: string) => void;
  clear: () => void;
};

/** A request's headers, as the context reads them (a fetch Request's or node:http's). */
type Headers = { get(name: string): string | null };

/** Builds each request's jar for these settings; `trustProxyHops` decides whether X-Forwarded-Proto is believed. */
export function refreshTokenCookies(
  settings: RefreshTokenCookieSettings,
  trustProxyHops: number,
): (request: { headers: Headers }, req: IncomingMessage | undefined) => RefreshTokenCookieJar {
  return (request, req) => {
    const secure = secureCookie(settings.name, request.headers, req, trustProxyHops);
    const attributes = (maxAgeS: number): string =>
      `; Max-Age=${maxAgeS}; Path=${settings.path}${settings.domain ? `; Domain=${settings.domain}` : ''}` +
      `; HttpOnly; SameSite=${settings.sameSite}${secure ? '; Secure' : ''}`;
    let setCookie: string | null = null;
    return {
      presented: cookieValue(request.headers.get('cookie'), settings.name),
      get setCookie() {
        return setCookie;
      },
      issue: (token) => {
        setCookie = `${settings.name}=${token}${attributes(settings.maxAgeS)}`;
      },
      // Same name, path and domain, or the browser keeps the old cookie beside the cleared one.
      clear: () => {
        setCookie = `${settings.name}=${attributes(0)}`;
      },
    };
  };
}

/** The first cookie called `name` in a Cookie header (the most specific path comes first), or null. */
export function cookieValue(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at < 0 || part.slice(0, at).trim() !== name) continue;
    const value = part.slice(at + 1).trim();
    return value.length > 0 ? value : null;
  }
  return null;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Secure, except on plain http to this machine (the Host is localhost, 127.0.0.1 or [::1]),
 * where a client that keeps Secure cookies for https alone (Safari, curl, server-side jars)
 * would drop it. Anywhere else a Secure cookie over plain http is lost, which is the point:
 * a refresh token must not cross a network in clear. The protocol is the socket's, or with a
 * trusted proxy in front, what its X-Forwarded-Proto says. A __Host- or __Secure- name is
 * always Secure (browsers refuse it otherwise).
 */
function secureCookie(name: string, headers: Headers, req: IncomingMessage | undefined, hops: number): boolean {
  if (name.startsWith('__Host-') || name.startsWith('__Secure-')) return true;
  const forwarded = hops > 0 ? headers.get('x-forwarded-proto') : null;
  const https =
    (req?.socket as TLSSocket | undefined)?.encrypted === true ||
    (forwarded ?? '').split(',').some((p) => p.trim().toLowerCase() === 'https');
  const host = (headers.get('host') ?? '').toLowerCase().replace(/:\d+$/, '');
  return https || !LOCAL_HOSTS.has(host);
}
