import type { Config, OidcProvider } from '../../../config.js';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../../../db/errors.js';
import type { Logger } from '../../../log.js';
import { AuthError } from '../../errors.js';

const COOKIE_PREFIX = 'authgate_oidc_';

/** An answer to the browser: a redirect (with cookies to set) or a coded error page. */
export type BrowserAnswer =
  | { kind: 'redirect'; location: string; cookies: string[] }
  | { kind: 'error'; status: number; code: string; message: string; cookies: string[] };

/** The provider's discovery failed: its fault, not the database's, whatever the error says. */
export class ProviderUnavailable extends Error {}

/** A plain error page for a sign-in link that cannot go on. */
export function errorPage(status: number, message: string, cookies: string[] = []): BrowserAnswer {
  return { kind: 'error', status, code: 'BAD_USER_INPUT', message, cookies };
}

/** The error page for a sign-in that could not start, by what went wrong. */
export function failure(err: unknown, log: Logger): BrowserAnswer {
  if (err instanceof AuthError) {
    return {
      kind: 'error',
      status: err.code === 'RATE_LIMITED' ? 429 : 400,
      code: err.code,
      message: err.message,
      cookies: [],
    };
  }
  // Both are "unavailable", but only one is the provider's fault: ECONNREFUSED from its
  // discovery document must not read as the database being away.
  if (!(err instanceof ProviderUnavailable) && isDatabaseUnavailable(err)) {
    const message = DATABASE_UNAVAILABLE_MESSAGE;
    return { kind: 'error', status: 503, code: 'SERVICE_UNAVAILABLE', message, cookies: [] };
  }
  log.warn({ err: (err as Error).message }, 'provider sign-in could not start');
  return {
    kind: 'error',
    status: 502,
    code: 'SERVICE_UNAVAILABLE',
    message: 'The provider is unavailable.',
    cookies: [],
  };
}

/** The name of the cookie that binds one flow's state to the browser that started it. */
export const cookieName = (stateHash: string): string => `${COOKIE_PREFIX}${stateHash.slice(0, 16)}`;

/** Set-Cookie for a flow's state: sent back only to this provider's callback, never to scripts. */
export function flowCookie(
  config: Pick<Config, 'publicUrl'>,
  p: OidcProvider,
  stateHash: string,
  value: string,
  maxAge: number,
): string {
  const secure = config.publicUrl.startsWith('https:');
  return `${cookieName(stateHash)}=${value}; Path=/auth/${p.name}/callback; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** One cookie's value from a Cookie header; null when it is not there. */
export function readCookie(header: string | null, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return null;
}
