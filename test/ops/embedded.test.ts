import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../src/db/connect.js';
import { EmbeddedStartError, embeddedSocketDir, startEmbedded } from '../../src/db/embedded.js';

/** The embedded Postgres's Unix socket where a socket's path (107 bytes at most) cannot reach. */
describe('the embedded Postgres of a deep DATA_DIR', () => {
  let base: string;
  let deep: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'authgate-deep-'));
    await chmod(base, 0o755); // as root, Postgres runs as `postgres` and must reach it
    deep = join(base, 'a-folder-name-long-enough'.repeat(4));
    await mkdir(deep, { recursive: true, mode: 0o755 });
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
    await rm(embeddedSocketDir(deep), { recursive: true, force: true });
  });

  it('listens on a socket in a short private directory of its own, and its URL connects', async () => {
    const dir = embeddedSocketDir(deep);
    expect(dir.startsWith(tmpdir())).toBe(true);
    expect(embeddedSocketDir(join(base, 'short'))).toBe(join(base, 'short', 'pg'));
    const db = await startEmbedded({ dataDir: deep, persistent: false });
    try {
      expect(new URL(db.url).searchParams.get('host')).toBe(dir);
      const sql = connectPostgres(db.url, { max: 1, onnotice: () => {} });
      try {
        expect((await sql`select current_setting('unix_socket_directories') as dirs`)[0]?.dirs).toBe(`"${dir}"`);
      } finally {
        await sql.end();
      }
    } finally {
      await db.stop();
    }
  }, 60_000);

  it('refuses a socket directory that others may write to', async () => {
    const dir = embeddedSocketDir(deep);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o777 });
    await chmod(dir, 0o777); // mkdir's mode is masked by the umask
    await expect(startEmbedded({ dataDir: deep, persistent: false })).rejects.toThrow(EmbeddedStartError);
    await expect(startEmbedded({ dataDir: deep, persistent: false })).rejects.toThrow(/is not a private directory/);
  }, 60_000);
});
