import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';

/**
 * A real OpenID Provider (the `oidc-provider` package) on 127.0.0.1, for end-to-end tests of
 * the gateway's sign-in broker. Its login and consent pages are replaced by a switch the test
 * sets before each sign-in: which account "signs in", or whether the user refuses.
 */

export type TestAccount = { sub: string; email?: string; email_verified?: boolean; name?: string };

export type ProviderHarness = {
  /** The issuer identifier, http://127.0.0.1:<port> (no trailing slash). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, TestAccount>;
  /** The account the next interaction signs in; null refuses (access_denied). */
  nextAccount: string | null;
  /** How many interactions (login pages) the provider has shown. */
  interactions: number;
  /** The provider's own failures (its 500s), which no test expects. */
  serverErrors: string[];
  close: () => Promise<void>;
};

// oidc-provider ships no type declarations (and @types/oidc-provider is not installed): this is
// the part of its API the harness uses.
type Interaction = { uid: string; params: Record<string, unknown> };
type GrantInstance = { addOIDCScope(scope: string): void; save(): Promise<string> };
type OidcProvider = {
  silent: boolean;
  on(event: 'server_error', listener: (ctx: unknown, err: Error) => void): void;
  Grant: new (init: { accountId: string; clientId: string }) => GrantInstance;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    opts: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
};
type ProviderCtor = new (issuer: string, config: Record<string, unknown>) => OidcProvider;

// A variable specifier: TypeScript then does not look for the (absent) declarations.
const OIDC_PROVIDER = 'oidc-provider';

/** Starts the provider; `redirectUris` are the gateway callbacks its one client may use. */
export async function startProvider(opts: { redirectUris: string[] }): Promise<ProviderHarness> {
  const { Provider } = (await import(OIDC_PROVIDER)) as { Provider: ProviderCtor };
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server: Server = createServer((req, res) => handler(req, res));
  // The issuer needs the port: listen first, build the provider after.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const issuer = `http://127.0.0.1:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = {
    ...(await exportJWK(privateKey)),
    kid: `test-${randomBytes(4).toString('hex')}`,
    alg: 'RS256',
    use: 'sig',
  };

  const harness: ProviderHarness = {
    issuer,
    // Characters HTTP Basic needs form-encoded (RFC 6749, section 2.3.1): the gateway must encode them.
    clientId: 'authgate:test',
    clientSecret: `${randomBytes(24).toString('base64')}:+/=% !~'()*`,
    accounts: new Map(),
    nextAccount: null,
    interactions: 0,
    serverErrors: [],
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: harness.clientId,
        client_secret: harness.clientSecret,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    features: { devInteractions: { enabled: false } },
    adapter: memoryAdapter(),
    // Explicit lifetimes (seconds), short: the defaults print a notice each.
    ttl: { AccessToken: 300, AuthorizationCode: 60, Grant: 600, IdToken: 300, Interaction: 600, Session: 600 },
    interactions: { url: (_ctx: unknown, interaction: Interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: unknown, sub: string) => {
      const account = harness.accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ ...account }) };
    },
  });
  // Koa would print what it catches; the tests look at serverErrors instead.
  provider.silent = true;
  provider.on('server_error', (_ctx: unknown, err: Error) => harness.serverErrors.push(err.message));

  const oidc = provider.callback();
  handler = (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      void interact(req, res).catch((err: Error) => {
        harness.serverErrors.push(`interaction: ${err.message}`);
        if (!res.headersSent) res.statusCode = 500;
        res.end();
      });
      return;
    }
    oidc(req, res);
  };

  /** The login-and-consent page, answered at once as the test decided. */
  async function interact(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    harness.interactions += 1;
    const accountId = harness.nextAccount;
    if (accountId === null || !harness.accounts.has(accountId)) {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'The user refused.' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  return harness;
}

// --- the browser ------------------------------------------------------------------------
// fetch with manual redirects and a small cookie jar plays the user's browser.

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

// --- the provider's storage -------------------------------------------------------------

type Payload = Record<string, unknown> & { uid?: string; grantId?: string; consumed?: number };

/**
 * The provider's storage, this harness's own and bounded by the artifacts' lifetimes (the
 * built-in one is shared by every Provider of the process and warns it is for development).
 */
function memoryAdapter() {
  const store = new Map<string, { payload: Payload; until: number }>();
  const live = (key: string) => {
    const hit = store.get(key);
    if (hit && hit.until <= Date.now()) store.delete(key);
    return hit && hit.until > Date.now() ? hit.payload : undefined;
  };
  return class MemoryAdapter {
    constructor(readonly model: string) {}
    key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Payload, expiresIn?: number) {
      for (const [k, v] of store) if (v.until <= Date.now()) store.delete(k);
      store.set(this.key(id), { payload, until: Date.now() + (expiresIn ?? 600) * 1000 });
    }
    async find(id: string) {
      return live(this.key(id));
    }
    async findByUid(uid: string) {
      for (const [k, v] of store) if (k.startsWith(`${this.model}:`) && v.payload.uid === uid) return live(k);
      return undefined;
    }
    async findByUserCode() {
      return undefined;
    }
    async consume(id: string) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, v] of store) if (v.payload.grantId === grantId) store.delete(k);
    }
  };
}
