import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type DocumentNode, print } from 'graphql';
import { RefreshDocument, SignInDocument, SignOutDocument, SignUpDocument } from './documents.js';
import type { SignInInput, SignInMutation, SignOutScope, SignUpInput, SignUpMutation } from './gql/graphql.js';

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

/** The `extensions.code` values of the authgate contract (CONTRACT.md, "Error codes"). */
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

export type AuthClientOptions = {
  /** The GraphQL endpoint, e.g. `https://auth.example.com/graphql`. */
  url: string;
  /** Defaults to `memoryStorage()`. */
  storage?: TokenStorage;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Refresh this many seconds before the access token expires; default 30. */
  refreshMarginSeconds?: number;
};

/** Variables are optional exactly when the operation has no required ones. */
export type VariablesArgs<TVars> = Record<string, never> extends TVars ? [variables?: TVars] : [variables: TVars];

type User = SignInMutation['signIn']['user'];

export type AuthClient = {
  /** Runs an operation as the signed-in user (anonymously when signed out). */
  request<TResult, TVars>(document: TypedDocumentNode<TResult, TVars>, ...args: VariablesArgs<TVars>): Promise<TResult>;
  /** Creates an account and stores its tokens. */
  signUp(input: SignUpInput): Promise<SignUpMutation['signUp']['user']>;
  /** Signs in and stores the tokens. */
  signIn(input: SignInInput): Promise<User>;
  /**
   * Ends the session on the server (`scope` as in the schema, default LOCAL) and always clears the
   * stored tokens, even when the call fails. Resolves to whether the server confirmed it.
   */
  signOut(scope?: SignOutScope): Promise<boolean>;
  /** Exchanges the refresh token now; concurrent callers share one exchange. Null when signed out. */
  refresh(): Promise<Tokens | null>;
  readonly storage: TokenStorage;
};

const sources = new WeakMap<DocumentNode, { query: string; operationName: string | undefined }>();

function sourceOf(document: DocumentNode): { query: string; operationName: string | undefined } {
  let source = sources.get(document);
  if (!source) {
    const operation = document.definitions.find((d) => d.kind === 'OperationDefinition');
    source = {
      query: document.loc?.source.body ?? print(document),
      operationName: operation?.kind === 'OperationDefinition' ? operation.name?.value : undefined,
    };
    sources.set(document, source);
  }
  return source;
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
  const marginMs = (options.refreshMarginSeconds ?? 30) * 1000;
  // Called through a closure: browsers throw "Illegal invocation" for an unbound window.fetch.
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  async function execute<TResult, TVars>(
    document: TypedDocumentNode<TResult, TVars>,
    variables: TVars | undefined,
    accessToken: string | null,
  ): Promise<TResult> {
    const { query, operationName } = sourceOf(document);
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
        body: JSON.stringify({ query, operationName, variables: variables ?? {} }),
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
