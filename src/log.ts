import {
  type DestinationStream,
  destination as fileDestination,
  type Logger as Pino,
  pino,
  stdTimeFunctions,
} from 'pino';
import type { Config } from './config.js';

export type Logger = Pino;

/**
 * Structured JSON logs (pino). Nothing secret is ever passed to a log call; the redaction
 * paths are a second line in case a header or an input object slips in.
 */
export function createLogger(level: Config['logLevel'], destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'authgate' },
      timestamp: stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'headers.authorization',
          'req.headers.authorization',
          '*.password',
          '*.currentPassword',
          '*.refreshToken',
          '*.accessToken',
          'variables',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? fileDestination({ dest: 1, sync: false }),
  );
}

/** Yoga's logger interface over pino, with errors reduced by `describeError`. */
export function yogaLogger(log: Logger) {
  const text = (args: unknown[]) => args.map((a) => (a instanceof Error ? describeError(a) : String(a))).join(' ');
  return {
    debug: (...args: unknown[]) => log.debug(text(args)),
    info: (...args: unknown[]) => log.info(text(args)),
    warn: (...args: unknown[]) => log.warn(text(args)),
    error: (...args: unknown[]) => log.error(text(args)),
  };
}

/**
 * An error as its class, SQLSTATE and driver message: a failed query's text and parameters
 * (claims, token hashes, emails) never reach a log.
 */
export function describeError(value: Error): string {
  let root: unknown = value;
  for (let depth = 0; depth < 8 && root instanceof Error; depth++) {
    const next = (root as { originalError?: unknown }).originalError ?? root.cause;
    if (!(next instanceof Error)) break;
    root = next;
  }
  const err = root as Error & { code?: unknown };
  const code = typeof err.code === 'string' ? ` [${err.code}]` : '';
  const message = err === value && value.name === 'DrizzleQueryError' ? 'query failed' : err.message.split('\n')[0];
  return `${err.name}${code}: ${message?.slice(0, 200) ?? ''}`;
}
