import { and, desc, eq, getTableColumns, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import type { PgInsertValue } from 'drizzle-orm/pg-core';
import type { Db, Tx } from '../db/client.js';
import { type AuditLogRow, auditLog } from '../db/schema.js';
import type { ClientInfo } from './model.js';

/**
 * Every event the audit log records; docs/audit-log.md says what each one carries. New
 * flows add theirs here (the column only checks the `area.verb` shape).
 */
export const AUDIT_EVENTS = [
  'user.signed_up',
  'user.signed_in',
  'user.sign_in_failed',
  'user.signed_out',
  'user.password_changed',
  'user.password_reset',
  'user.email_confirmed',
  'user.email_change_requested',
  'user.email_changed',
  'user.deleted',
  'user.banned',
  'user.unbanned',
  'session.refreshed',
  'session.refresh_token_reused',
  'session.revoked',
  'mfa.factor_enrolled',
  'mfa.factor_verified',
  'mfa.challenge_verified',
  'mfa.challenge_failed',
  'mfa.factor_removed',
  'mfa.recovery_codes_generated',
  'mfa.recovery_code_used',
  'passkey.registered',
  'passkey.removed',
  'identity.linked',
  'identity.unlinked',
  'admin.user_updated',
  'admin.user_signed_out',
  'admin.user_imported',
  // Written by a trigger on the organisation tables (drizzle/0021_organizations.sql), in the
  // transaction of the change, whichever resolver made it.
  'organization.created',
  'organization.updated',
  'organization.deleted',
  'organization.member_added',
  'organization.member_role_changed',
  'organization.member_removed',
  'organization.member_left',
  'organization.invitation_created',
  'organization.invitation_accepted',
  'organization.invitation_revoked',
] as const;

export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** Who acted: the user themselves, the service role, the gateway, or nobody known yet. */
export type AuditActor = { kind: 'user'; id: string } | { kind: 'service_role' | 'system' | 'anonymous' };
export type AuditActorKind = AuditActor['kind'];

/**
 * What a row may carry besides its columns: names, ids, counts and reasons. The keys are a
 * closed list, checked at run time too, so nobody files a token or a password under a new one.
 */
export type AuditDetail = {
  /** How the user authenticated: password, otp, recovery, oauth, anonymous, totp, recovery_code… */
  method?: string;
  /** Why an attempt failed: an error code, never the input. */
  reason?: string;
  scope?: 'local' | 'global' | 'others';
  sessionId?: string;
  /** A replay within the reuse interval, answered with the same child token. */
  replayed?: boolean;
  factorId?: string;
  factorType?: string;
  provider?: string;
  /** The names of what changed (admin updates), never the values. */
  fields?: string[];
  bannedUntil?: string | null;
  count?: number;
  organizationId?: string;
  invitationId?: string;
  /** An organisation role (owner, admin, member). */
  role?: string;
};

const DETAIL_KEYS: ReadonlySet<string> = new Set<keyof AuditDetail>([
  'method',
  'reason',
  'scope',
  'sessionId',
  'replayed',
  'factorId',
  'factorType',
  'provider',
  'fields',
  'bannedUntil',
  'count',
  'organizationId',
  'invitationId',
  'role',
]);

export type AuditEntry = {
  event: AuditEvent;
  /** Whose account the event is about; null when no account answered (an unknown address). */
  userId: string | null;
  actor: AuditActor;
  client?: ClientInfo | null;
  detail?: AuditDetail;
};

/** The usual entry: the user acting on their own account from `client`. */
export const byUser = (
  event: AuditEvent,
  userId: string,
  client?: ClientInfo | null,
  detail?: AuditDetail,
): AuditEntry => ({ event, userId, actor: { kind: 'user', id: userId }, client, detail });

/** An operator's action on `userId` through the service role. */
export const byService = (
  event: AuditEvent,
  userId: string,
  client?: ClientInfo | null,
  detail?: AuditDetail,
): AuditEntry => ({ event, userId, actor: { kind: 'service_role' }, client, detail });

function row(entry: AuditEntry, i: number): PgInsertValue<typeof auditLog> {
  const detail = entry.detail ?? {};
  for (const key of Object.keys(detail)) {
    if (!DETAIL_KEYS.has(key)) throw new Error(`audit detail key not allowed: ${key}`);
  }
  return {
    event: entry.event,
    userId: entry.userId,
    actorKind: entry.actor.kind,
    actorId: entry.actor.kind === 'user' ? entry.actor.id : null,
    ip: entry.client?.ip ?? null,
    userAgent: entry.client?.userAgent?.slice(0, 512) ?? null,
    detail,
    // Rows of one statement one microsecond apart, so they read back in the order given.
    ...(i > 0 ? { createdAt: sql`clock_timestamp() + make_interval(secs => ${i / 1e6})` } : {}),
  };
}

/**
 * The insert of `entries` as one statement, not yet sent: await it inside the transaction of
 * the change it records (or put it in a Promise.all with that transaction's other statements,
 * which postgres.js pipelines on the one connection, so it costs no round trip of its own).
 * A rolled-back change then leaves no row, and a committed one always has its row.
 */
export function auditStatement(db: Db | Tx, entries: AuditEntry | AuditEntry[]): Promise<unknown> {
  const list = Array.isArray(entries) ? entries : [entries];
  return db.insert(auditLog).values(list.map((e, i) => row(e, i)));
}

/** An audit row with the exact text of its created_at, for a keyset cursor. */
export type AuditPageRow = Omit<AuditLogRow, 'createdAt'> & { createdAt: string };

/** Which rows a page reads, besides its keyset. */
export type AuditFilter = {
  userId?: string | null;
  events?: readonly string[] | null;
  since?: Date | null;
  until?: Date | null;
};

/** One page of the log, newest first, after the keyset `after` (created_at text, id). */
export async function auditPage(
  db: Db,
  filter: AuditFilter,
  first: number,
  after: { createdAt: string; id: string } | null,
): Promise<{ rows: AuditPageRow[]; hasNextPage: boolean }> {
  const where: SQL[] = [];
  if (filter.userId) where.push(eq(auditLog.userId, filter.userId));
  if (filter.events && filter.events.length > 0) where.push(inArray(auditLog.event, [...filter.events]));
  if (filter.since) where.push(gte(auditLog.createdAt, filter.since.toISOString()));
  if (filter.until) where.push(lt(auditLog.createdAt, filter.until.toISOString()));
  if (after) {
    where.push(
      sql`(${auditLog.createdAt}, ${auditLog.id}) < (${after.createdAt}::text::timestamptz, ${after.id}::uuid)`,
    );
  }
  const rows = await db
    .select({ ...getTableColumns(auditLog), createdAt: sql<string>`${auditLog.createdAt}::text` })
    .from(auditLog)
    .where(and(...where))
    .orderBy(desc(auditLog.createdAt), desc(auditLog.id))
    .limit(first + 1);
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

/**
 * Deletes rows older than `days`, at most `batch` per statement and `maxBatches` per call,
 * so one run never holds a long lock or a long transaction; returns how many went.
 */
export async function pruneAuditLog(db: Db, days: number, batch = 1000, maxBatches = 50): Promise<number> {
  if (days <= 0) return 0;
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const gone = await db.execute(sql`
      delete from auth.audit_log where id in (
        select id from auth.audit_log
        where created_at < now() - make_interval(days => ${days})
        order by created_at, id limit ${batch})
      returning id`);
    total += gone.length;
    if (gone.length < batch) break;
  }
  return total;
}
