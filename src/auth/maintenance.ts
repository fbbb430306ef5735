import { and, eq, lt, sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { authCodes, oidcFlows, oneTimeTokens, passkeyChallenges, users } from '../db/schema.js';
import type { Logger } from '../log.js';
import { pruneAuditLog } from './audit.js';

export type Maintenance = {
  run: () => Promise<{ anonymousUsersDeleted: number; auditRowsDeleted: number }>;
  stop: () => void;
};

/**
 * Periodic clean-up, safe to run on every instance at once: anonymous users older than
 * ANONYMOUS_USER_MAX_AGE_S (their profiles and sessions cascade), expired one-time
 * secrets, and audit rows past AUDIT_LOG_RETENTION_DAYS (in bounded batches). The timer is unref'd, so it never keeps the process alive.
 */
export function startMaintenance(db: Db, config: Pick<Config, 'anonymous' | 'auditLog'>, log: Logger): Maintenance {
  const run = async () => {
    const gone = await db
      .delete(users)
      .where(
        and(
          eq(users.isAnonymous, true),
          lt(users.createdAt, sql`now() - make_interval(secs => ${config.anonymous.maxAgeS})`),
        ),
      )
      .returning({ id: users.id });
    await db.delete(oneTimeTokens).where(lt(oneTimeTokens.expiresAt, sql`now()`));
    await db.delete(oidcFlows).where(lt(oidcFlows.expiresAt, sql`now()`));
    await db.delete(authCodes).where(lt(authCodes.expiresAt, sql`now()`));
    await db.delete(passkeyChallenges).where(lt(passkeyChallenges.expiresAt, sql`now()`));
    const auditRowsDeleted = await pruneAuditLog(db, config.auditLog.retentionDays);
    if (gone.length > 0) log.info({ anonymousUsersDeleted: gone.length }, 'anonymous users cleaned up');
    if (auditRowsDeleted > 0) log.info({ auditRowsDeleted }, 'old audit log rows deleted');
    return { anonymousUsersDeleted: gone.length, auditRowsDeleted };
  };
  const timer = setInterval(() => {
    run().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'maintenance failed'));
  }, config.anonymous.cleanupIntervalS * 1000);
  timer.unref();
  return { run, stop: () => clearInterval(timer) };
}
