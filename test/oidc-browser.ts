import type { ProviderHarness } from '../dev/oidc-provider.js';

// fetch with manual redirects and a small cookie jar plays the user's browser, for the tests of
// the gateway's OpenID Connect sign-in against the provider of dev/oidc-provider.ts.

/** Cookies per origin (host and port) with their paths, as much of RFC 6265 as the flow needs. */
export class CookieJar {
  readonly #store = new Map<string, Map<string, { name: string; value: string; path: string }>>();

  header(url: URL): string | undefined {
    const cookies = [...(this.#store.get(url.host)?.values() ?? [])].filter((c) => pathMatches(url.pathname, c.path));
    return cookies.length > 0 ? cookies.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  take(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let gone = value === '';
      for (const attr of attrs) {
        const [k = '', v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) gone = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) gone = true;
      }
      let site = this.#store.get(url.host);
      if (!site) {
        site = new Map();
        this.#store.set(url.host, site);
      }
      const key = `${name}\u0000${path}`;
      if (gone) site.delete(key);
      else site.set(key, { name, value, path });
    }
  }

  names(origin: string): string[] {
    return [...(this.#store.get(new URL(origin).host)?.values() ?? [])].map((c) => c.name);
  }
}

const pathMatches = (requestPath: string, cookiePath: string) =>
  requestPath === cookiePath ||
  (requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'));

/** One GET as a browser makes it: the jar's cookies sent, the answer's cookies kept. */
export async function get(jar: CookieJar | null, url: URL | string): Promise<Response> {
  const u = new URL(url);
  const cookie = jar?.header(u);
  const res = await fetch(u, {
    redirect: 'manual',
    headers: cookie ? { cookie } : {},
    signal: AbortSignal.timeout(10_000),
  });
  jar?.take(u, res);
  return res;
}

/** A form's POST as a browser makes it (urlencoded, cookies sent and kept), not followed. */
export async function submit(jar: CookieJar, url: URL | string, fields: Record<string, string>): Promise<Response> {
  const u = new URL(url);
  const cookie = jar.header(u);
  const res = await fetch(u, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  jar.take(u, res);
  return res;
}

/**
 * Follows redirects from `url` until `stop` says a URL is the destination (returned, not
 * requested) or a page answers without redirecting (returned with its body).
 */
export async function browse(
  jar: CookieJar,
  url: string,
  stop: (u: URL) => boolean,
): Promise<{ at: URL } | { page: URL; status: number; body: string }> {
  let u = new URL(url);
  for (let hop = 0; hop < 15; hop++) {
    if (stop(u)) return { at: u };
    const res = await get(jar, u);
    const location = res.headers.get('location');
    const body = await res.text();
    if (res.status < 300 || res.status > 399 || !location) return { page: u, status: res.status, body };
    u = new URL(location, u);
  }
  throw new Error('too many redirects');
}

export type Landing = { url: URL; code: string | null; error: string | null };

/** Where a browser sign-in starts and where it is expected to land. */
export type SignInOptions = {
  /** The account that signs in at the provider; null: the user refuses. */
  account: string | null;
  /** The app URL the gateway sends the browser back to: the start's redirect_to, and where browsing stops. */
  redirectTo: string;
  provider?: string;
  codeChallenge?: string;
  cookieJar?: CookieJar;
  /** Where the browser starts instead of a start URL built here: a linkIdentity url, a client's start URL. */
  url?: string;
};

/**
 * A provider sign-in in a browser: GET /auth/<provider>/start (or `url`), the provider's pages
 * with `account` signing in (null: the user refuses), the gateway callback, until the browser is
 * sent to the app. Throws when it ends anywhere else.
 */
export async function signInThrough(
  harness: ProviderHarness,
  gw: { url: string },
  opts: SignInOptions,
): Promise<Landing> {
  const jar = opts.cookieJar ?? new CookieJar();
  harness.nextAccount = opts.account;
  const url = opts.url ?? startUrl(gw, opts.provider ?? 'local', opts.redirectTo, opts.codeChallenge);
  const appOrigin = new URL(opts.redirectTo).origin;
  const end = await browse(jar, url, (u) => u.origin === appOrigin);
  if (!('at' in end)) throw new Error(`sign-in stopped at ${end.page.pathname} with ${end.status}: ${end.body}`);
  return { url: end.at, code: end.at.searchParams.get('code'), error: end.at.searchParams.get('error') };
}

/** The gateway's /auth/<provider>/start URL; `gw.url` is its GraphQL endpoint. */
export function startUrl(
  gw: { url: string },
  provider: string,
  redirectTo: string | null,
  codeChallenge?: string,
): string {
  const u = new URL(`/auth/${provider}/start`, gw.url);
  if (redirectTo !== null) u.searchParams.set('redirect_to', redirectTo);
  if (codeChallenge) {
    u.searchParams.set('code_challenge', codeChallenge);
    u.searchParams.set('code_challenge_method', 'S256');
  }
  return u.toString();
}
