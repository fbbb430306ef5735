import { and, asc, count, eq, gt, isNull, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Db, Tx } from '../../../db/client.js';
import {
  type MfaFactorRow,
  mfaFactors,
  mfaRecoveryCodes,
  type SessionRow,
  sessions,
  type UserRow,
  users,
} from '../../../db/schema.js';
import { isUuid } from '../../../shared/ids.js';
import { aal2Required, enrolledSql } from '../../assurance.js';
import { type AuditDetail, type AuditEntry, type AuditEvent, auditStatement, byUser } from '../../audit.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError } from '../../errors.js';
import type { Grant, Grants } from '../../grants.js';
import { reauthChecks } from '../../rate-limit.js';
import { aadOf, type MfaKeys } from './keys.js';
import { matchingStep, newRecoveryCode, RECOVERY_CODES } from './totp.js';

// What the MFA flows share: the caller's live session under the user's MFA lock, the aal2
// check, the caller's factors and recovery codes, and the step up to aal2.

/** Who asks: a user of ours with a session of ours, and the aal its access token claims. */
export type MfaCaller = {
  userId: string;
  sessionId: string;
  claimAal: 'aal1' | 'aal2' | null;
  ip: string | null;
  userAgent: string | null;
};

/**
 * Runs a code check; a wrong code (its transaction rolled back) is recorded as
 * mfa.challenge_failed in a statement of its own, so guesses at a factor show in the log.
 */
export async function recordingWrongCode<T>(
  db: Db,
  caller: MfaCaller,
  detail: AuditDetail,
  check: () => Promise<T>,
): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (err instanceof AuthError && err.code === 'INVALID_CREDENTIALS') {
      await auditStatement(db, mfaAudit(caller, 'mfa.challenge_failed', { ...detail, reason: 'WRONG_CODE' }));
    }
    throw err;
  }
}

/** The caller acting on their own account, as the audit log records it. */
export const mfaAudit = (caller: MfaCaller, event: AuditEvent, detail?: AuditDetail): AuditEntry =>
  byUser(event, caller.userId, caller, detail);

/** What the MFA flows may use: the auth deps they need and the keys derived once for them. */
export type MfaDeps = Pick<AuthDeps, 'db' | 'config' | 'grants' | 'limiter'> & { keys: MfaKeys };

const MAX_FACTORS = 10;
// An enrollment nobody finished within this long is abandoned: it is dropped, and it can no
// longer be activated (its secret was shown once, perhaps on a screen left open).
const UNVERIFIED_TTL_S = 3600;

/** A factor id that is not the caller's, or not a factor at all. */
export const factorNotFound = (): AuthError =>
  new AuthError('BAD_USER_INPUT', 'No such factor.', { reason: 'FACTOR_NOT_FOUND', field: 'factorId' });
/** A TOTP or recovery code that does not match. */
export const wrongCode = (): AuthError => new AuthError('INVALID_CREDENTIALS', 'Invalid code.');

/**
 * Serialises the user's MFA changes (two tabs enrolling, activating, spending codes; the
 * replay check relies on it), then reads the caller's session, which must be live: not
 * signed out, not past its time box, the user not banned (what auth.session_is_live asks of
 * every request). An advisory lock rather than row locks, so a concurrent refresh, which
 * locks the refresh token and then the session, cannot deadlock with us.
 */
export async function liveSession(tx: Tx, caller: MfaCaller): Promise<{ session: SessionRow; user: UserRow }> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`mfa:${caller.userId}`}, 0))`);
  const [row] = await tx
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, caller.sessionId),
        eq(sessions.userId, caller.userId),
        or(isNull(sessions.notAfter), gt(sessions.notAfter, sql`now()`)),
        or(isNull(users.bannedUntil), lte(users.bannedUntil, sql`now()`)),
      ),
    );
  if (!row) throw new AuthError('UNAUTHENTICATED');
  return row;
}

/** Both the token and the session behind it: an aal1 token of an upgraded session is not enough. */
export function requireAal2(caller: MfaCaller, session: SessionRow): void {
  if (caller.claimAal !== 'aal2' || session.aal !== 'aal2') throw aal2Required();
}

/** The caller's own factor; another user's id reads exactly like an unknown one. */
export async function ownFactor(tx: Tx, userId: string, factorId: string): Promise<MfaFactorRow> {
  if (!isUuid(factorId)) throw factorNotFound();
  const [factor] = await tx
    .select()
    .from(mfaFactors)
    .where(and(eq(mfaFactors.id, factorId), eq(mfaFactors.userId, userId)));
  if (!factor) throw factorNotFound();
  return factor;
}

/** The user has at least one verified factor: an active TOTP factor or a passkey. */
export async function hasVerifiedFactor(tx: Tx, userId: string): Promise<boolean> {
  const [row] = await tx.execute<{ enrolled: boolean }>(sql`select ${enrolledSql(userId)} as enrolled`);
  return row?.enrolled === true;
}

/**
 * Checks a code against the factor and spends its time step: a code works once, even
 * within its 30 s, and never one older than the last accepted.
 */
export async function spendCode(keys: MfaKeys, tx: Tx, factor: MfaFactorRow, code: string): Promise<void> {
  const secret = keys.box.open(factor.secret, aadOf(factor.userId, factor.id));
  const step = matchingStep(secret, code, Date.now(), factor.lastUsedStep);
  if (step === null) throw wrongCode();
  await tx.update(mfaFactors).set({ lastUsedStep: step, updatedAt: sql`now()` }).where(eq(mfaFactors.id, factor.id));
}

/** Ten new codes replace every earlier one; only their HMACs are kept. */
export async function replaceRecoveryCodes(keys: MfaKeys, tx: Tx, userId: string): Promise<string[]> {
  await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
  await tx.insert(mfaRecoveryCodes).values(codes.map((c) => ({ userId, codeHash: keys.recoveryHash(userId, c) })));
  return codes.map((c) => `${c.slice(0, 5)}-${c.slice(5)}`);
}

/** How many of the user's recovery codes are still unspent. */
export async function unusedRecoveryCodes(tx: Tx, userId: string): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(mfaRecoveryCodes)
    .where(and(eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)));
  return row?.n ?? 0;
}

/** Drops abandoned enrollments, then the oldest unfinished ones until a new factor fits. */
export async function makeRoom(tx: Tx, userId: string): Promise<void> {
  await tx.delete(mfaFactors).where(and(eq(mfaFactors.userId, userId), eq(mfaFactors.status, 'unverified'), stale()));
  const rows = await tx
    .select({ id: mfaFactors.id, status: mfaFactors.status })
    .from(mfaFactors)
    .where(eq(mfaFactors.userId, userId))
    .orderBy(asc(mfaFactors.createdAt));
  const excess = rows.length - (MAX_FACTORS - 1);
  if (excess <= 0) return;
  const unverified = rows.filter((r) => r.status === 'unverified').slice(0, excess);
  if (unverified.length < excess) {
    throw new AuthError('BAD_USER_INPUT', `A user has at most ${MAX_FACTORS} factors; remove one first.`, {
      reason: 'TOO_MANY_FACTORS',
    });
  }
  for (const r of unverified) await tx.delete(mfaFactors).where(eq(mfaFactors.id, r.id));
}

/** An unverified factor older than UNVERIFIED_TTL_S. */
export const stale = (): SQL => sql`(${mfaFactors.createdAt} < now() - make_interval(secs => ${UNVERIFIED_TTL_S}))`;

/** The factor was created longer than UNVERIFIED_TTL_S ago (for an unverified one: abandoned). */
export async function isStale(tx: Tx, factorId: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: mfaFactors.id })
    .from(mfaFactors)
    .where(and(eq(mfaFactors.id, factorId), stale()));
  return row !== undefined;
}

/**
 * The session passed a second factor: aal2, a fresh refresh token, the payload's data, and
 * the `audit` rows, written with the payload's reads.
 */
export async function elevate(
  grants: Grants,
  tx: Tx,
  session: SessionRow,
  user: UserRow,
  method: string,
  audit: AuditEntry[],
): Promise<Grant> {
  const elevated = await grants.elevateSession(tx, session, method);
  return grants.grant(tx, user, elevated.session, elevated.refreshToken, audit);
}

/** A step-up by a verified factor (a TOTP code, a passkey), recorded as mfa.challenge_verified. */
export function elevateByFactor(
  grants: Grants,
  tx: Tx,
  caller: MfaCaller,
  session: SessionRow,
  user: UserRow,
  method: 'totp' | 'passkey',
  factorId: string,
): Promise<Grant> {
  const audit = mfaAudit(caller, 'mfa.challenge_verified', { method, factorId, sessionId: session.id });
  return elevate(grants, tx, session, user, method, [audit]);
}

/** The rate limit of code guesses (per user and per client), counted before any database work. */
export const countAttempt = (deps: Pick<MfaDeps, 'limiter'>, caller: MfaCaller): Promise<void> =>
  deps.limiter.consume(reauthChecks('mfa_verify', caller.userId, caller.ip));
