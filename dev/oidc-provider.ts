import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';

/**
 * A real OpenID Provider (the `oidc-provider` package) on 127.0.0.1, for `npm run dev:oidc`
 * (dev/oidc.ts) and for end-to-end tests of the gateway's sign-in broker. Its login and consent
 * page is one of two: a form where a person signs in with an account's email and password
 * (`login: 'form'`), or a switch a test sets before each sign-in: which account "signs in", or
 * whether the user refuses.
 */

export type ProviderAccount = {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  /** What the login form asks for; an account without one cannot sign in there. */
  password?: string;
};

export type ProviderHarness = {
  /** The issuer identifier, http://127.0.0.1:<port> (no trailing slash). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, ProviderAccount>;
  /** Without the login form: the account the next interaction signs in; null refuses (access_denied). */
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

export type ProviderOptions = {
  /** The gateway callbacks its one client may use. */
  redirectUris: string[];
  /** Default: any free port. */
  port?: number;
  /** Default: `authgate:test` and a random secret, both with characters HTTP Basic must encode. */
  client?: { id: string; secret: string };
  /** The login page: a form for a person, or (default) the harness's `nextAccount` switch. */
  login?: 'form' | 'switch';
};

export async function startProvider(opts: ProviderOptions): Promise<ProviderHarness> {
  const { Provider } = (await import(OIDC_PROVIDER)) as { Provider: ProviderCtor };
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server: Server = createServer((req, res) => handler(req, res));
  // The issuer needs the port: listen first, build the provider after.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
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
    clientId: opts.client?.id ?? 'authgate:test',
    clientSecret: opts.client?.secret ?? `${randomBytes(24).toString('base64')}:+/=% !~'()*`,
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
      const { password: _, ...claims } = account;
      return { accountId: sub, claims: async () => claims };
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

  /**
   * The login-and-consent page: the form (shown on GET, answered on POST), or answered at once
   * as the test decided.
   */
  async function interact(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    let accountId: string | null;
    if (opts.login !== 'form') {
      harness.interactions += 1;
      accountId = harness.nextAccount;
    } else if (req.method !== 'POST') {
      harness.interactions += 1;
      return loginPage(res, details.uid);
    } else {
      const form = new URLSearchParams(await body(req));
      const email = form.get('email')?.trim();
      const account = [...harness.accounts.values()].find((a) => a.email === email);
      const passwordOk = account?.password !== undefined && account.password === form.get('password');
      if (!form.has('cancel') && !passwordOk) return loginPage(res, details.uid, 'Wrong email or password.');
      accountId = form.has('cancel') ? null : account!.sub;
    }
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

// --- the login form ---------------------------------------------------------------------

function loginPage(res: ServerResponse, uid: string, error?: string): void {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  res.writeHead(error ? 401 : 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (dev OpenID provider)</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto">
<h1>Sign in</h1>
<p>The development OpenID provider of <code>npm run dev:oidc</code>.</p>
${error ? `<p role="alert" style="color: #b00">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
<p><label>Email<br><input name="email" type="email" autocomplete="username" required autofocus></label></p>
<p><label>Password<br><input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button> <button type="submit" name="cancel" value="1" formnovalidate>Cancel</button></p>
</form>
</body></html>
`);
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A form post's body, up to 16 KiB. */
async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 16_384) throw new Error('form too large');
  }
  return text;
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
