import { GraphQLError } from 'graphql';

/** Node and postgres.js codes of a connection that failed, closed or timed out. */
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ACQUIRE_TIMEOUT',
]);

/**
 * True when the database is out of reach rather than the request wrong: a lost or refused
 * connection, or Postgres shutting down / starting up (SQLSTATE classes 08 and 57P).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'))) {
      return true;
    }
    e = (e as { cause?: unknown; originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}

export const DATABASE_UNAVAILABLE_MESSAGE = 'The database is unavailable; try again shortly.';

/** What a client sees while the database is out of reach: SERVICE_UNAVAILABLE, HTTP 503. */
export function databaseUnavailableError(): GraphQLError {
  return new GraphQLError(DATABASE_UNAVAILABLE_MESSAGE, {
    extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503 } },
  });
}

/**
 * The request's session was signed out, timed out, or its user banned or deleted: the
 * identity statement raised. The GraphQL layer answers it as UNAUTHENTICATED.
 */
export class SessionEndedError extends Error {
  override name = 'SessionEndedError';
  constructor() {
    super('the session of this request has ended');
  }
}
