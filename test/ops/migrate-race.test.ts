import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { expect, it } from 'vitest';
import { loadSealingKeys, provisionSigningKeys } from '../../src/auth/signing-keys.js';
import { startEmbedded } from '../../src/db/embedded.js';
import { migrateAndProvision } from '../../src/db/migrate.js';
import { freePort } from '../ports.js';

/**
 * Roles are cluster-wide, the migration lock per database: on a fresh cluster, gateways of
 * several databases migrating at the same moment race to create `anon` and the others.
 * Needs a cluster of its own, where no role exists yet, whatever TEST_DATABASE_URL says.
 */
it('migrates three databases of a fresh cluster at once', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'authgate-race-'));
  const pg = await startEmbedded({ dataDir: dir, port: await freePort(), persistent: false });
  try {
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    const urls: string[] = [];
    for (const name of ['race_a', 'race_b', 'race_c']) {
      await admin.unsafe(`create database ${name}`);
      const u = new URL(pg.url);
      u.pathname = `/${name}`;
      urls.push(u.toString());
    }
    await admin.end();
    const sealing = loadSealingKeys({
      secretsKey: { current: randomBytes(32).toString('base64url'), previous: undefined },
      dataDir: dir,
      env: 'test',
    });
    const outcomes = await Promise.allSettled(urls.map((u) => migrateAndProvision(u, provisionSigningKeys(sealing))));
    expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok']);
  } finally {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
