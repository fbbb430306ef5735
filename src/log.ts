import type { Config } from './config.js';

export type Logger = {
  debug: (...args: unknown[]) => void;
  info: (...args: unknown[]) => void;
  warn: (...args: unknown[]) => void;
  error: (...args: unknown[]) => void;
};

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * JSON lines on stderr. Errors are reduced to their class, SQLSTATE and driver message:
 * a failed query's text and parameters (claims, token hashes, emails) never reach a log.
 */
export function createLogger(
  level: Config['logLevel'],
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Logger {
  const min = level === 'silent' ? LEVELS.length : LEVELS.indexOf(level);
  const make =
    (name: (typeof LEVELS)[number]) =>
    (...args: unknown[]): void => {
      if (LEVELS.indexOf(name) < min) return;
      const parts = args.map(describe);
      write(JSON.stringify({ time: new Date().toISOString(), level: name, msg: parts.join(' ') }));
    };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

function describe(value: unknown): string {
  if (!(value instanceof Error)) return typeof value === 'string' ? value : safeJson(value);
  let root: unknown = value;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  const err = root as Error & { code?: unknown };
  const code = typeof err.code === 'string' ? ` [${err.code}]` : '';
  // Drizzle puts the SQL and its parameters into its own message; only the root cause's
  // message is kept, and only from the driver or our own code.
  const message = err === value && value.name === 'DrizzleQueryError' ? 'query failed' : err.message.split('\n')[0];
  return `${err.name}${code}: ${message?.slice(0, 200) ?? ''}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 500) ?? String(value);
  } catch {
    return String(value);
  }
}
