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
export function createLogger(
  level: Config['logLevel'],
  destination?: DestinationStream,
  format: Config['logFormat'] = 'json',
): Logger {
  return pino(
    {
      level,
      base: { service: 'authgate' },
      timestamp: stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'headers.authorization',
          'req.headers.authorization',
          // Cookie mode's refresh token rides in these.
          'headers.cookie',
          'req.headers.cookie',
          'headers["set-cookie"]',
          'res.headers["set-cookie"]',
          '*.password',
          '*.currentPassword',
          '*.refreshToken',
          '*.accessToken',
          'variables',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? (format === 'pretty' ? prettyDestination() : fileDestination({ dest: 1, sync: false })),
  );
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * One of our JSON log lines as a person reads it at a terminal: the time, the level, then for
 * a request `query me ok 4.1 ms user=… req=…` (with its error codes or why a token was
 * refused), otherwise the message and the remaining fields as key=value.
 */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { level, time, msg, service: _service, pid: _pid, hostname: _host, ...rest } = o;
  const head = `${typeof time === 'string' ? time.slice(11, 23) : ''} ${(LEVELS[level as number] ?? String(level)).padEnd(5)}`;
  if (typeof rest.operation === 'string' && typeof rest.outcome === 'string') {
    const { operation, outcome, type, ms, userId, requestId, codes, reason, ...more } = rest;
    const parts = [
      head,
      type ?? 'request',
      operation,
      outcome,
      Array.isArray(codes) ? codes.join(',') : null,
      reason ? `(${reason})` : null,
      typeof ms === 'number' ? `${ms} ms` : null,
      `user=${userId ?? 'anon'}`,
      requestId ? `req=${requestId}` : null,
      ...fields(more),
    ];
    return parts.filter((p) => p !== null && p !== undefined && p !== '').join(' ');
  }
  return [head, typeof msg === 'string' ? msg : null, ...fields(rest)].filter((p) => p !== null).join(' ');
}

const fields = (o: Record<string, unknown>): string[] =>
  Object.entries(o).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);

/** stdout, each line made readable by prettyLine. */
function prettyDestination(): DestinationStream {
  return {
    write: (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) process.stdout.write(`${prettyLine(line)}\n`);
    },
  };
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
