import type postgres from 'postgres';
import type { Logger } from '../log.js';

/** How often an instance asks again whether imported bcrypt hashes remain. */
const RECHECK_MS = 60_000;

export type LegacyHashes = { present: () => boolean; refresh: () => Promise<void>; stop: () => void };

/**
 * Whether any account still has an imported bcrypt hash (see createPasswordHasher: while
 * one does, every password check pays for both algorithms). Asked at start-up and once a
 * minute, never on a request; unknown counts as present. Once the last imported user has
 * signed in (or been reset), sign-ins stop paying for bcrypt.
 */
export function watchLegacyHashes(sql: postgres.Sql, log: Logger): LegacyHashes {
  let present = true;
  const refresh = async () => {
    const [row] = await sql<[{ present: boolean }]>`
      select exists (select 1 from auth.users where encrypted_password like '$2%') as present`;
    present = row?.present ?? true;
  };
  const timer = setInterval(() => {
    refresh().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'legacy hash check failed'));
  }, RECHECK_MS);
  timer.unref();
  return { present: () => present, refresh, stop: () => clearInterval(timer) };
}
