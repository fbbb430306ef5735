import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type DocumentNode, print } from 'graphql';
import {
  ExchangeCodeDocument,
  RefreshDocument,
  RegisterDocument,
  SignInDocument,
  SignOutDocument,
  SignUpDocument,
} from './documents.js';
import type {
  RegisterMutation,
  SignInInput,
  SignInMutation,
  SignOutScope,
  SignUpInput,
  SignUpMutation,
} from './gql/graphql.js';

/** The pair the gateway issues; `expiresAt` (ISO-8601) is when the access token expires. */
export type Tokens = { accessToken: string; refreshToken: string; expiresAt: string };

/** Where the client keeps its tokens: memory, localStorage, a native keychain, … */
export type TokenStorage = { get(): Tokens | null; set(tokens: Tokens | null): void };

/** Tokens in a variable: gone on reload, out of reach of other scripts' storage reads. */
export function memoryStorage(initial: Tokens | null = null): TokenStorage {
  let tokens = initial;
  return {
    get: () => tokens,
    set: (next) => {
      tokens = next;
    },
  };
}

/**
 * Where the PKCE verifier of a provider sign-in waits while the browser is at the provider. One
 * sign-in at a time: starting another replaces it.
 */
export type VerifierStorage = { get(): string | null; set(verifier: string | null): void };

/**
 * The verifier in a variable. It survives only as long as the page: enough for a popup or a test,
 * not for a full-page redirect to the provider (use sessionStorage there, see the example's README).
 */
export function memoryVerifierStorage(): VerifierStorage {
  let verifier: string | null = null;
  return {
    get: () => verifier,
    set: (next) => {
      verifier = next;
    },
  };
}

/**
 * The `extensions.code` values of authgate's errors (the server's catalogue is
 * `src/auth/errors.ts`). Copied, not imported: this client is code a frontend copies into
 * its own project, which has no server source to import from.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'WEAK_PASSWORD'
  | 'EMAIL_TAKEN'
  | 'USERNAME_TAKEN'
  | 'INVALID_CREDENTIALS'
  | 'INVALID_REFRESH_TOKEN'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE';

/** One entry of a GraphQL response's `errors`. */
export type GraphQLErrorEntry = {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
};

/**
 * A failed request. `code` is the first error's `extensions.code` (undefined when the server was
 * not reached or did not answer with GraphQL); `errors` holds every error of the response.
 */
export class GraphQLRequestError extends Error {
  override readonly name = 'GraphQLRequestError';
  readonly code: ErrorCode | undefined;
  readonly errors: readonly GraphQLErrorEntry[];
  /** The HTTP status, or undefined when no response arrived. */
  readonly status: number | undefined;

  constructor(
    message: string,
    init: { errors?: readonly GraphQLErrorEntry[]; status?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.errors = init.errors ?? [];
    this.code = this.errors[0]?.extensions?.code as ErrorCode | undefined;
    this.status = init.status;
  }

  /** Whether any error of the response carries `code`. */
  has(code: ErrorCode): boolean {
    return this.errors.some((e) => e.extensions?.code === code);
  }
}

/**
 * The provider (or the gateway) sent the browser back without a code: `error` is the OAuth error
 * code of the landing URL (`access_denied` when the user refused), or `missing_code` when the URL
 * carried neither.
 */
export class ProviderSignInError extends Error {
  override readonly name = 'ProviderSignInError';
  constructor(
    readonly error: string,
    readonly description: string | undefined,
  ) {
    super(
      error === 'missing_code'
        ? 'The sign-in landing URL has no code.'
        : `The provider sign-in failed: ${error}${description ? ` (${description})` : ''}.`,
    );
  }
}

export type AuthClientOptions = {
  /** The GraphQL endpoint, e.g. `https://auth.example.com/graphql`. */
  url: string;
  /** Defaults to `memoryStorage()`. */
  storage?: TokenStorage;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Refresh this many seconds before the access token expires; default 30. */
  refreshMarginSeconds?: number;
  /** Keeps the PKCE verifier across the provider round trip; defaults to `memoryVerifierStorage()`. */
  verifierStorage?: VerifierStorage;
  /**
   * Send each document's id (`__meta__.hash`, which codegen adds with `persistedDocuments`)
   * instead of its text, as `extensions.persistedQuery.sha256Hash`. A gateway with
   * TRUSTED_DOCUMENTS_ONLY requires it; any gateway with the client's persisted-documents.json in
   * TRUSTED_DOCUMENTS takes it. Default false: the text, which every gateway takes.
   */
  persistedDocuments?: boolean;
};

/** Variables are optional exactly when the operation has no required ones. */
export type VariablesArgs<TVars> = Record<string, never> extends TVars ? [variables?: TVars] : [variables: TVars];

type User = SignInMutation['signIn']['user'];

/** Where the landing page finds the code: its full URL, a URL, or its query string. */
export type LandingUrl = string | URL | URLSearchParams;

export type AuthClient = {
  /** Runs an operation as the signed-in user (anonymously when signed out). */
  request<TResult, TVars>(document: TypedDocumentNode<TResult, TVars>, ...args: VariablesArgs<TVars>): Promise<TResult>;
  /** Creates an account and stores its tokens. */
  signUp(input: SignUpInput): Promise<SignUpMutation['signUp']['user']>;
  /**
   * Creates an account whether or not the gateway requires confirmed emails: stores the session
   * when there is one; with `confirmationRequired` a link was mailed and nobody is signed in yet.
   */
  register(input: SignUpInput): Promise<{ user: RegisterMutation['register']['user']; confirmationRequired: boolean }>;
  /** Signs in and stores the tokens. */
  signIn(input: SignInInput): Promise<User>;
  /**
   * The URL to send the browser to for a sign-in with `provider` (a name of the gateway's
   * OIDC_PROVIDERS). Keeps a fresh PKCE verifier in `verifierStorage`; the gateway sends the
   * browser back to `redirectTo` (one of its OIDC_REDIRECT_URLS; omitted: the first of them).
   */
  providerSignInUrl(provider: string, options?: { redirectTo?: string }): Promise<string>;
  /**
   * On the page the browser landed on: exchanges its one-time code with the stored verifier,
   * stores the tokens and forgets the verifier. Throws `ProviderSignInError` when the landing
   * carries an `error` (or no code), `GraphQLRequestError` (BAD_USER_INPUT) when the gateway
   * refuses the code or the verifier.
   */
  finishProviderSignIn(landing: LandingUrl): Promise<User>;
  /**
   * Ends the session on the server (`scope` as in the schema, default LOCAL) and always clears the
   * stored tokens, even when the call fails. Resolves to whether the server confirmed it.
   */
  signOut(scope?: SignOutScope): Promise<boolean>;
  /** Exchanges the refresh token now; concurrent callers share one exchange. Null when signed out. */
  refresh(): Promise<Tokens | null>;
  readonly storage: TokenStorage;
};

type Source = { query: string; operationName: string | undefined; id: string | undefined };

const sources = new WeakMap<DocumentNode, Source>();

function sourceOf(document: DocumentNode): Source {
  let source = sources.get(document);
  if (!source) {
    const operation = document.definitions.find((d) => d.kind === 'OperationDefinition');
    // Codegen's persistedDocuments puts the id (`sha256:<hex>` of the text in
    // persisted-documents.json) on the generated document object itself.
    const hash = (document as { __meta__?: { hash?: unknown } }).__meta__?.hash;
    source = {
      query: document.loc?.source.body ?? print(document),
      operationName: operation?.kind === 'OperationDefinition' ? operation.name?.value : undefined,
      id: typeof hash === 'string' ? hash : undefined,
    };
    sources.set(document, source);
  }
  return source;
}

const base64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/**
 * An RFC 7636 pair with Web Crypto, the same in browsers and Node 20+: 32 random bytes as the
 * verifier (43 base64url characters), its SHA-256 as the S256 challenge.
 */
async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

function landingParams(landing: LandingUrl): URLSearchParams {
  if (landing instanceof URLSearchParams) return landing;
  if (landing instanceof URL) return landing.searchParams;
  // A full URL (location.href) or just its query string (location.search).
  return landing.includes('://') ? new URL(landing).searchParams : new URLSearchParams(landing);
}

const isCode = (err: unknown, code: ErrorCode): err is GraphQLRequestError =>
  err instanceof GraphQLRequestError && err.has(code);

const tokensOf = (p: Tokens): Tokens => ({
  accessToken: p.accessToken,
  refreshToken: p.refreshToken,
  expiresAt: p.expiresAt,
});

/** A small client for authgate: typed requests, bearer tokens, refresh before expiry and on rejection. */
export function createAuthClient(options: AuthClientOptions): AuthClient {
  const { url } = options;
  const storage = options.storage ?? memoryStorage();
  const verifiers = options.verifierStorage ?? memoryVerifierStorage();
  const marginMs = (options.refreshMarginSeconds ?? 30) * 1000;
  // Called through a closure: browsers throw "Illegal invocation" for an unbound window.fetch.
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function execute<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    variables: TVars | undefined,
    accessToken: string | null,
  ): Promise<TResult> {
    const { query, operationName, id } = sourceOf(document);
    if (options.persistedDocuments && id === undefined) {
      throw new GraphQLRequestError(
        `${operationName ?? 'This document'} has no persisted id: generate it with persistedDocuments: true in codegen.ts.`,
      );
    }
    // The id alone, no text: a gateway that runs only trusted documents refuses any text.
    const named = options.persistedDocuments
      ? { extensions: { persistedQuery: { version: 1, sha256Hash: id } } }
      : { query };
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
    };
    if (accessToken) headers.authorization = `Bearer ${accessToken}`;
    let res: Response;
    try {
      res = await doFetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ ...named, operationName, variables: variables ?? {} }),
      });
    } catch (cause) {
      throw new GraphQLRequestError('The GraphQL endpoint could not be reached.', { cause });
    }
    let body: { data?: TResult | null; errors?: GraphQLErrorEntry[] };
    try {
      body = (await res.json()) as typeof body;
    } catch (cause) {
      throw new GraphQLRequestError(`Not a GraphQL response (HTTP ${res.status}).`, { status: res.status, cause });
    }
    const first = body.errors?.[0];
    if (first) throw new GraphQLRequestError(first.message, { errors: body.errors, status: res.status });
    if (body.data == null) {
      throw new GraphQLRequestError(`Empty GraphQL response (HTTP ${res.status}).`, { status: res.status });
    }
    return body.data;
  }

  let inFlight: Promise<Tokens | null> | null = null;

  async function exchange(): Promise<Tokens | null> {
    const spent = storage.get();
    if (!spent) return null;
    try {
      const { refresh } = await execute(RefreshDocument, { refreshToken: spent.refreshToken }, null);
      const next = tokensOf(refresh);
      // Signed out (or in as someone else) meanwhile: do not bring the old session back.
      if (storage.get()?.refreshToken !== spent.refreshToken) return storage.get();
      storage.set(next);
      return next;
    } catch (err) {
      // The session is over on the server; forget it, unless a newer pair was stored meanwhile.
      if (isCode(err, 'INVALID_REFRESH_TOKEN') && storage.get()?.refreshToken === spent.refreshToken) {
        storage.set(null);
      }
      throw err;
    }
  }

  // One exchange at a time: a refresh token is single-use, so a second concurrent exchange would
  // spend the pair the first one just received (or, past the reuse interval, end the session).
  function refresh(): Promise<Tokens | null> {
    inFlight ??= exchange().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  const expiresSoon = (t: Tokens): boolean => Date.parse(t.expiresAt) - Date.now() <= marginMs;

  async function freshTokens(): Promise<Tokens | null> {
    const tokens = storage.get();
    if (!tokens || !expiresSoon(tokens)) return tokens;
    try {
      return await refresh();
    } catch (err) {
      // A transient failure (network, RATE_LIMITED) need not fail a request the token still covers.
      if (!isCode(err, 'INVALID_REFRESH_TOKEN') && Date.parse(tokens.expiresAt) > Date.now()) return tokens;
      throw err;
    }
  }

  async function request<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    ...[variables]: VariablesArgs<TVars>
  ): Promise<TResult> {
    const tokens = await freshTokens();
    try {
      return await execute(document, variables, tokens?.accessToken ?? null);
    } catch (err) {
      // The server refused the access token (revoked, expired early, clock skew): refresh, retry once.
      if (!tokens || !isCode(err, 'UNAUTHENTICATED')) throw err;
      const current = storage.get();
      // Another request may have refreshed already; use its pair rather than spending another.
      const next = current && current.accessToken !== tokens.accessToken ? current : await refresh();
      if (!next) throw err;
      return execute(document, variables, next.accessToken);
    }
  }

  return {
    storage,
    request,
    refresh,
    // Sign-up and sign-in go without a bearer: the gateway refuses any request with a bad one.
    async signUp(input) {
      const { signUp } = await execute(SignUpDocument, { input }, null);
      storage.set(tokensOf(signUp));
      return signUp.user;
    },
    async register(input) {
      const { register } = await execute(RegisterDocument, { input }, null);
      // Without a session (the email awaits confirmation) the stored tokens stay as they were:
      // nobody new is signed in yet.
      if (register.session) storage.set(tokensOf(register.session));
      return { user: register.user, confirmationRequired: register.confirmationRequired };
    },
    async providerSignInUrl(provider, { redirectTo } = {}) {
      const { verifier, challenge } = await pkcePair();
      verifiers.set(verifier);
      // The gateway serves /auth/* at the origin of its GraphQL endpoint. A relative `url`
      // ('/graphql') is resolved against the page, as fetch would.
      const page = typeof location === 'undefined' ? undefined : location.href;
      const start = new URL(`/auth/${encodeURIComponent(provider)}/start`, new URL(url, page).origin);
      if (redirectTo !== undefined) start.searchParams.set('redirect_to', redirectTo);
      start.searchParams.set('code_challenge', challenge);
      start.searchParams.set('code_challenge_method', 'S256');
      return start.toString();
    },
    async finishProviderSignIn(landing) {
      const params = landingParams(landing);
      const verifier = verifiers.get();
      // The code is single-use and the gateway spends it on any attempt: whatever happens, this
      // verifier has nothing left to finish.
      verifiers.set(null);
      const error = params.get('error');
      if (error !== null) throw new ProviderSignInError(error, params.get('error_description') ?? undefined);
      const code = params.get('code');
      if (!code) throw new ProviderSignInError('missing_code', undefined);
      // Without a stored verifier the exchange still goes out: a start made without a challenge
      // needs none, and one made with it is refused by the gateway (BAD_USER_INPUT).
      const { exchangeCode } = await execute(ExchangeCodeDocument, { code, codeVerifier: verifier }, null);
      storage.set(tokensOf(exchangeCode));
      return exchangeCode.user;
    },
    async signIn(input) {
      const { signIn } = await execute(SignInDocument, { input }, null);
      storage.set(tokensOf(signIn));
      return signIn.user;
    },
    async signOut(scope) {
      try {
        if (!storage.get()) return false;
        const { signOut } = await request(SignOutDocument, scope === undefined ? {} : { scope });
        return signOut;
      } catch {
        return false;
      } finally {
        storage.set(null);
      }
    },
  };
}
