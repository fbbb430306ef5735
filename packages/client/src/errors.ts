/**
 * The `extensions.code` values of authgate's errors. The gateway's catalogue may grow; unknown
 * codes still arrive as strings.
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
 * A failed request. `code` is the first error's `extensions.code` (undefined when the gateway was
 * not reached or did not answer with GraphQL), `reason` its `extensions.reason` (e.g.
 * `AAL2_REQUIRED`); `errors` holds every error of the response.
 */
export class AuthgateError extends Error {
  override readonly name = 'AuthgateError';
  readonly code: ErrorCode | undefined;
  readonly reason: string | undefined;
  readonly errors: readonly GraphQLErrorEntry[];
  /** The HTTP status, or undefined when no response arrived. */
  readonly status: number | undefined;

  constructor(
    message: string,
    init: { errors?: readonly GraphQLErrorEntry[]; status?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.errors = init.errors ?? [];
    const first = this.errors[0]?.extensions;
    this.code = typeof first?.code === 'string' ? (first.code as ErrorCode) : undefined;
    this.reason = typeof first?.reason === 'string' ? first.reason : undefined;
    this.status = init.status;
  }

  /** Whether any error of the response carries `code`. */
  has(code: ErrorCode): boolean {
    return this.errors.some((e) => e.extensions?.code === code);
  }
}

/**
 * The error code of anything a GraphQL client threw or returned: an `AuthgateError`, urql's
 * `CombinedError`, Apollo's `CombinedGraphQLErrors` / `ApolloError`, or a raw `errors` array.
 */
export function errorCode(error: unknown): ErrorCode | undefined {
  for (const entry of errorEntries(error)) {
    const code = entry.extensions?.code;
    if (typeof code === 'string') return code as ErrorCode;
  }
  return undefined;
}

function errorEntries(error: unknown): readonly GraphQLErrorEntry[] {
  if (Array.isArray(error)) return error as GraphQLErrorEntry[];
  if (typeof error !== 'object' || error === null) return [];
  const e = error as { errors?: unknown; graphQLErrors?: unknown };
  // AuthgateError and Apollo 4 carry `errors`; urql and Apollo 3 `graphQLErrors`.
  if (Array.isArray(e.errors)) return e.errors as GraphQLErrorEntry[];
  if (Array.isArray(e.graphQLErrors)) return e.graphQLErrors as GraphQLErrorEntry[];
  return [];
}

/**
 * The provider (or the gateway) sent the browser back without a code: `error` is the OAuth error
 * of the landing URL (`access_denied` when the user refused), or `missing_code`.
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
