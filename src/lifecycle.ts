import { ConfigError } from './config.js';
import { whereOf } from './db/connect.js';
import { EmbeddedStartError, stopAllEmbedded } from './db/embedded.js';
import { isDatabaseUnavailable } from './db/errors.js';

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
/** 128 + the signal's number, as a shell reports a process that a signal ended. */
const SIGNAL_EXIT: Record<(typeof SIGNALS)[number], number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * Runs `start` (runServer, for `npm start` and `npx authgate start|dev`) so that nothing it
 * started outlives the process: runServer drains on a signal once it listens, but a signal
 * during the start, or a start that fails after the embedded Postgres is up, would otherwise
 * leave that Postgres running without an owner (it is a separate process). A failed start
 * prints one line naming the cause and exits 1.
 */
export async function serve(start: () => Promise<void>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let aborting = false;
  const onSignal = (signal: (typeof SIGNALS)[number]) => {
    if (aborting) return;
    aborting = true;
    console.log(`authgate: ${signal} while starting, stopping`);
    void stopAllEmbedded()
      .catch(() => {})
      .finally(() => process.exit(SIGNAL_EXIT[signal]));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  stopWithParent(env);
  try {
    await start();
  } catch (err) {
    // A signal stops the embedded Postgres under a start still running, which then fails: the
    // signal's handler is already on its way out.
    if (aborting) return new Promise<void>(() => {});
    console.error(`authgate: ${describeStartFailure(err, env)}`);
    await stopAllEmbedded().catch(() => {});
    process.exit(1);
  } finally {
    // runServer's own handlers (the drain) took over when it returned.
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

/**
 * Under npm (`npm start`, `npx authgate …`) the parent is npm's script shell, and `kill <npm
 * pid>` reaches only that shell: dash dies of the signal without passing it on, which left the
 * gateway and its Postgres running. So here a parent that disappears means "stop", and the
 * gateway drains as on SIGTERM. Outside npm a supervisor signals the process itself, and a
 * launcher that exits after starting it (nohup, a script that backgrounds it) must not stop it.
 */
function stopWithParent(env: NodeJS.ProcessEnv): void {
  if (!env.npm_lifecycle_event || process.platform === 'win32') return;
  // Node 20's process.ppid is read once at start-up, so it is the parent to watch, not a probe.
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (alive(parent)) return;
    clearInterval(timer);
    console.log('authgate: npm has exited, stopping');
    process.kill(process.pid, 'SIGTERM');
  }, 500);
  timer.unref();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One line for the operator: what failed and, where we know it, the setting that fixes it.
 * Never a stack, and never a bare "unknown error".
 */
export function describeStartFailure(err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  return knownCause(err, env) ?? `failed to start: ${errorLine(err)}`;
}

/** Like describeStartFailure, for a command that is not a start. */
export function describeFailure(err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  return knownCause(err, env) ?? errorLine(err);
}

function knownCause(err: unknown, env: NodeJS.ProcessEnv): string | undefined {
  if (err instanceof ConfigError || err instanceof EmbeddedStartError) return oneLine(err.message);
  const e = (err ?? {}) as { code?: unknown; syscall?: unknown; port?: unknown };
  if (e.syscall === 'listen' && (e.code === 'EADDRINUSE' || e.code === 'EACCES')) {
    const setting = env.SMTP_CATCHER_PORT && Number(env.SMTP_CATCHER_PORT) === e.port ? 'SMTP_CATCHER_PORT' : 'PORT';
    return e.code === 'EADDRINUSE'
      ? `port ${e.port} is in use (set ${setting})`
      : `port ${e.port} needs privileges this process lacks (set ${setting})`;
  }
  return describeUnreachable(err, env);
}

/** The database at DATABASE_URL does not answer: where it was sought, without its password. */
export function describeUnreachable(err: unknown, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const first = (err as { errors?: unknown[] } | undefined)?.errors?.[0];
  const code = (err as { code?: unknown } | undefined)?.code;
  const unresolved = code === 'ENOTFOUND' || code === 'EAI_AGAIN';
  if (!unresolved && !isDatabaseUnavailable(err) && !isDatabaseUnavailable(first)) {
    return undefined;
  }
  let where = 'the database';
  try {
    if (env.DATABASE_URL) where = `the database at ${whereOf(env.DATABASE_URL)}`;
  } catch {}
  return `cannot reach ${where} (${errorLine(err)}); check DATABASE_URL and that Postgres runs`;
}

/** An error as one line: its message, else its code, else the first of its errors (Node's AggregateError). */
export function errorLine(err: unknown): string {
  if (err === undefined || err === null) return 'no reason given';
  const e = err as { message?: unknown; code?: unknown; errors?: unknown[] };
  if (typeof e.message === 'string' && e.message.trim()) return oneLine(e.message);
  if (Array.isArray(e.errors) && e.errors.length > 0) return errorLine(e.errors[0]);
  if (typeof e.code === 'string') return e.code;
  return oneLine(String(err));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
