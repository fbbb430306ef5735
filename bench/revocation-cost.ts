/**
 * What the immediate-revocation check costs: the first statement of a request with and
 * without `auth.session_is_live`, on one connection as the gateway's login role, timed over
 * many runs. Same round trip either way; this measures the extra server time.
 * Usage: npx tsx bench/revocation-cost.ts   (embedded Postgres in a temp dir)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { loadSealingKeys, provisionSigningKeys } from '../src/auth/signing-keys.js';
import { loginUrl } from '../src/db/client.js';
import { startEmbedded } from '../src/db/embedded.js';
import { migrateAndProvision } from '../src/db/migrate.js';
import { freePort } from './proc.js';

const N = Number(process.env.N ?? 5000);
const dir = await mkdtemp(join(tmpdir(), 'authgate-bench-'));
const db = await startEmbedded({ dataDir: dir, port: await freePort(), persistent: false });
try {
  const sealing = loadSealingKeys({
    secretsKey: { current: randomBytes(32).toString('base64url'), previous: undefined },
    dataDir: dir,
    env: 'test',
  });
  const secrets = await migrateAndProvision(db.url, provisionSigningKeys(sealing));
  const admin = postgres(db.url, { max: 1, onnotice: () => {} });
  const [user] = await admin`insert into auth.users (email) values ('bench@example.com') returning id`;
  const [session] = await admin`insert into auth.sessions (user_id) values (${user!.id}) returning id`;
  await admin.end();
  const sql = postgres(loginUrl(db.url, secrets.app.role, secrets.app.password), { max: 1, onnotice: () => {} });
  const claims = JSON.stringify({ sub: user!.id, role: 'authenticated', session_id: session!.id });
  const variants = {
    'set_config x2': () =>
      sql.begin(
        (tx) => tx`select set_config('request.jwt.claims', ${claims}, true), set_config('role', 'authenticated', true)`,
      ),
    'set_config x2 + session_is_live': () =>
      sql.begin(
        (tx) => tx`select set_config('request.jwt.claims', ${claims}, true), set_config('role', 'authenticated', true),
                          auth.session_is_live(${session!.id}::uuid, ${user!.id}::uuid)`,
      ),
  };
  const results: Record<string, number> = {};
  for (let round = 0; round < 2; round++) {
    for (const [name, run] of Object.entries(variants)) {
      for (let i = 0; i < 500; i++) await run();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) await run();
      results[name] = Number(process.hrtime.bigint() - t0) / 1000 / N;
    }
  }
  for (const [name, us] of Object.entries(results))
    console.log(`${name.padEnd(34)} ${us.toFixed(1)} µs per transaction`);
  const [a, b] = Object.values(results);
  console.log(`revocation check: +${(b! - a!).toFixed(1)} µs per request, no extra round trip`);
  await sql.end();
} finally {
  await db.stop();
  await rm(dir, { recursive: true, force: true });
}
