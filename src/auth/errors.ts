import { GraphQLError } from 'graphql';

/** The error codes of CONTRACT.md; clients switch on these, so they never change. */
export const ERROR_CODES = [
  'BAD_USER_INPUT',
  'WEAK_PASSWORD',
  'EMAIL_TAKEN',
  'USERNAME_TAKEN',
  'INVALID_CREDENTIALS',
  'INVALID_REFRESH_TOKEN',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * `extensions.reason`: what a client can act on beside the code. The contract fixes the
 * first four; the rest are ours. None is ever renamed.
 */
export const REASONS = [
  'AAL2_REQUIRED',
  'EMAIL_NOT_CONFIRMED',
  'EMAIL_CONFIRMATION_REQUIRED',
  'CAPTCHA_FAILED',
  'ANONYMOUS_DISABLED',
  'REAUTHENTICATION_REQUIRED',
  'NATIVE_SESSION_REQUIRED',
  'IDENTITY_ALREADY_LINKED',
  'LAST_IDENTITY',
  'INVALID_TOKEN',
  'INVALID_CODE',
  'UNKNOWN_PROVIDER',
  'REDIRECT_NOT_ALLOWED',
  'FACTOR_NOT_FOUND',
  'FACTOR_ALREADY_VERIFIED',
  'FACTOR_NOT_VERIFIED',
  'NO_VERIFIED_FACTOR',
  'TOO_MANY_FACTORS',
  'PERSISTED_DOCUMENT_NOT_FOUND',
  'PERSISTED_DOCUMENT_REQUIRED',
  'ACCESS_TOKEN_HOOK_FAILED',
  'CAPTCHA_UNAVAILABLE',
  'PASSKEY_INVALID',
  'PASSKEY_NOT_FOUND',
  'PASSKEY_ALREADY_REGISTERED',
  'CHALLENGE_EXPIRED',
  'ORGANIZATION_ROLE_REQUIRED',
  'LAST_OWNER',
  'SLUG_TAKEN',
  'INVITATION_INVALID',
  'INVITATION_EMAIL_MISMATCH',
] as const;
export type Reason = (typeof REASONS)[number];

const MESSAGES: Record<ErrorCode, string> = {
  BAD_USER_INPUT: 'Invalid input.',
  WEAK_PASSWORD: 'The password does not meet the policy.',
  EMAIL_TAKEN: 'An account with this email already exists.',
  USERNAME_TAKEN: 'This username is taken.',
  // One message for a wrong password and an unknown email, so neither is revealed.
  INVALID_CREDENTIALS: 'Invalid email or password.',
  INVALID_REFRESH_TOKEN: 'Invalid refresh token.',
  UNAUTHENTICATED: 'Not signed in, or the access token is invalid or expired.',
  FORBIDDEN: 'Not allowed.',
  RATE_LIMITED: 'Too many attempts; try again later.',
};

/** An expected failure with a stable `extensions.code`; every other error is masked. */
export class AuthError extends GraphQLError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, extra?: { reason?: Reason } & Record<string, unknown>) {
    super(message ?? MESSAGES[code], { extensions: { code, ...extra } });
    this.code = code;
  }
}

/**
 * A bearer token the gateway refuses: UNAUTHENTICATED to the client, as every refused token
 * is, and `why` (which check failed, never the token) for the request's log line only.
 */
export class TokenRefused extends AuthError {
  constructor(readonly why: string) {
    super('UNAUTHENTICATED');
  }
}

/**
 * The operator's access-token hook (ACCESS_TOKEN_HOOK) raised, timed out or returned claims
 * it may not: nothing is issued. SERVICE_UNAVAILABLE, as for a database out of reach: the
 * client can do nothing but try later, and the log tells the operator what to fix.
 */
export class AccessTokenHookFailed extends GraphQLError {
  constructor() {
    super('Tokens cannot be issued right now; try again later.', {
      extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'ACCESS_TOKEN_HOOK_FAILED' satisfies Reason },
    });
  }
}

export const badInput = (message: string, field?: string): AuthError =>
  new AuthError('BAD_USER_INPUT', message, field ? { field } : undefined);

/** Postgres unique_violation on a named constraint or index. */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = (err as { cause?: unknown })?.cause ?? err;
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as { code?: string }).code === '23505' &&
    (e as { constraint_name?: string }).constraint_name === constraint
  );
}

export const bannedError = (): AuthError => new AuthError('FORBIDDEN', 'This account is banned.');
