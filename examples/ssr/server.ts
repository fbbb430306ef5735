import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';

// A server-rendered app on authgate's cookie mode (docs/cookie-sessions.md), with nothing but
// node:http. The gateway runs with REFRESH_TOKEN_COOKIE=on and REFRESH_TOKEN_COOKIE_PATH=/, so
// the browser sends the refresh-token cookie with every page request. Each page render spends
// it with `refresh`, relays the gateway's Set-Cookie (the next token) to the browser, and reads
// `me` with the new access token. No token ever reaches the page's scripts.

export type PageServerOptions = {
  /** The gateway's GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  gatewayUrl: string;
  /** REFRESH_TOKEN_COOKIE_NAME of the gateway. */
  cookieName?: string;
};

/** What this page reads of the gateway's answers. */
type GatewayAnswer = {
  body: { data?: { refresh?: { accessToken: string }; me?: { email: string } | null } | null };
  setCookies: string[];
};

export function createPageServer(opts: PageServerOptions): Server {
  const cookieName = opts.cookieName ?? 'authgate-refresh-token';

  /** One GraphQL request to the gateway, as the browser's stand-in. */
  async function gateway(
    req: IncomingMessage,
    query: string,
    variables: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<GatewayAnswer> {
    const res = await fetch(opts.gatewayUrl, {
      method: 'POST',
      // A JSON body is what the gateway's CSRF rule asks of every request.
      headers: {
        'content-type': 'application/json',
        'user-agent': req.headers['user-agent'] ?? 'ssr-example',
        // The browser's address, for the gateway's rate limits and session list; believed only
        // when the gateway trusts this server as a proxy (TRUST_PROXY).
        'x-forwarded-for': req.socket.remoteAddress ?? '',
        ...headers,
      },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(10_000),
    });
    return { body: (await res.json()) as GatewayAnswer['body'], setCookies: res.headers.getSetCookie() };
  }

  /** Only the refresh-token cookie goes on to the gateway, never the app's other cookies. */
  const refreshCookie = (req: IncomingMessage): Record<string, string> => {
    const pair = (req.headers.cookie ?? '')
      .split(';')
      .map((p) => p.trim())
      .find((p) => p.startsWith(`${cookieName}=`));
    return pair ? { cookie: pair } : {};
  };

  async function page(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cookie = refreshCookie(req);
    let who: string | null = null;
    if (cookie.cookie) {
      const refreshed = await gateway(req, 'mutation { refresh(refreshToken: "") { accessToken } }', {}, cookie);
      // The next refresh token (or, when it was refused, the cookie's removal) goes to the browser.
      res.setHeader('set-cookie', refreshed.setCookies);
      const accessToken = refreshed.body.data?.refresh?.accessToken;
      if (accessToken) {
        const me = await gateway(req, '{ me { email } }', {}, { authorization: `Bearer ${accessToken}` });
        who = me.body.data?.me?.email ?? null;
      }
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(
      who
        ? `<!doctype html><title>Signed in</title><p id="who">Signed in as ${escapeHtml(who)}</p>` +
            '<form method="post" action="/sign-out"><button>Sign out</button></form>'
        : '<!doctype html><title>Sign in</title><form method="post" action="/sign-in">' +
            '<input name="email" type="email"><input name="password" type="password"><button>Sign in</button></form>',
    );
  }

  async function form(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const fields = new URLSearchParams(await bodyOf(req));
    const answer =
      path === '/sign-in'
        ? await gateway(req, 'mutation S($input: SignInInput!) { signIn(input: $input) { accessToken } }', {
            input: { email: fields.get('email') ?? '', password: fields.get('password') ?? '' },
          })
        : await gateway(req, 'mutation { signOut }', {}, refreshCookie(req));
    res.setHeader('set-cookie', answer.setCookies);
    res.writeHead(303, { location: '/' });
    res.end();
  }

  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const post = req.method === 'POST' && (path === '/sign-in' || path === '/sign-out');
    // This server's own forms take cookies on the browser's behalf: another site's form must
    // not sign a visitor in or out (login CSRF), so a POST from elsewhere is refused.
    if (post && !fromHere(req)) {
      res.writeHead(403).end();
      return;
    }
    const done = post ? form(req, res, path) : req.method === 'GET' && path === '/' ? page(req, res) : null;
    if (!done) {
      res.writeHead(404).end();
      return;
    }
    done.catch(() => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('The gateway did not answer.');
    });
  });
}

/** A request without an Origin (a browser's GET, a tool), or from a page of this very host. */
function fromHere(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false; // `Origin: null` (sandboxed frames, some redirects) names no page of ours
  }
}

function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 10_000) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// `npx tsx examples/ssr/server.ts`: GATEWAY_URL (default http://localhost:4000/graphql), PORT (3000).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000);
  createPageServer({
    gatewayUrl: process.env.GATEWAY_URL ?? 'http://localhost:4000/graphql',
    ...(process.env.REFRESH_TOKEN_COOKIE_NAME ? { cookieName: process.env.REFRESH_TOKEN_COOKIE_NAME } : {}),
  }).listen(port, () => console.log(`http://localhost:${port}/`));
}
