import { createHmac, randomInt, randomUUID } from 'node:crypto';
import { and, asc, count, eq, gt, isNull, lte, or, sql } from 'drizzle-orm';
import { HOTP, Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { Tx } from '../db/client.js';
import {
  type MfaFactorRow,
  mfaFactors,
  mfaRecoveryCodes,
  type SessionRow,
  sessions,
  type UserRow,
  users,
} from '../db/schema.js';
import { isUuid } from '../shared/ids.js';
import { constantTimeEqual, deriveKey, secretBox } from './crypto.js';
import type { AuthDeps } from './deps.js';
import { AuthError, badInput } from './errors.js';
import type { AuthPayload } from './model.js';
import { reauthChecks } from './rate-limit.js';

export type MfaService = ReturnType<typeof createMfaService>;

/** Who asks: a user of ours with a session of ours, and the aal its access token claims. */
export type MfaCaller = { userId: string; sessionId: string; claimAal: 'aal1' | 'aal2' | null; ip: string | null };

export type MfaFactorView = {
  id: string;
  factorType: string;
  friendlyName: string | null;
  status: 'unverified' | 'verified';
  createdAt: Date;
};

export type MfaEnrollment = { factorId: string; secret: string; uri: string; qrCode: string };
export type MfaActivation = { session: AuthPayload; recoveryCodes: string[] };

// What every authenticator app understands (Google Authenticator ignores anything else).
const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
// One step either side absorbs clock drift between the phone and us.
const WINDOW = 1;
const SECRET_BYTES = 20;
const MAX_FACTORS = 10;
// An enrollment nobody finished within this long is abandoned: it is dropped, and it can no
// longer be activated (its secret was shown once, perhaps on a screen left open).
const UNVERIFIED_TTL_S = 3600;
const RECOVERY_CODES = 10;
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const RECOVERY_LENGTH = 10;
const FRIENDLY_NAME_MAX = 64;

const factorNotFound = () =>
  new AuthError('BAD_USER_INPUT', 'No such factor.', { reason: 'FACTOR_NOT_FOUND', field: 'factorId' });
const wrongCode = () => new AuthError('INVALID_CREDENTIALS', 'Invalid code.');
const aal2Required = () =>
  new AuthError('FORBIDDEN', 'This needs a session that passed its second factor (mfaVerify).', {
    reason: 'AAL2_REQUIRED',
  });

/** TOTP second factors (RFC 6238): enroll, activate, challenge, recovery codes, unenroll. */
export function createMfaService(deps: AuthDeps) {
  const { db, grants, limiter } = deps;
  const issuer = deps.config.mfaIssuer;
  // Separate keys per use, so neither the secret box nor the code hashes share a key with
  // anything else derived from the same server secret.
  const box = totpBox(deriveKey(deps.serverKey, 'authgate mfa totp secret'));
  const recoveryKey = deriveKey(deps.serverKey, 'authgate mfa recovery code');
  const recoveryHash = (userId: string, code: string) =>
    createHmac('sha256', recoveryKey).update(`${userId}:${code}`).digest('hex');

  /**
   * Serialises the user's MFA changes (two tabs enrolling, activating, spending codes; the
   * replay check relies on it), then reads the caller's session, which must be live: not
   * signed out, not past its time box, the user not banned (what auth.session_is_live asks of
   * every request). An advisory lock rather than row locks, so a concurrent refresh, which
   * locks the refresh token and then the session, cannot deadlock with us.
   */
  async function liveSession(tx: Tx, caller: MfaCaller) {
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
  function requireAal2(caller: MfaCaller, session: SessionRow): void {
    if (caller.claimAal !== 'aal2' || session.aal !== 'aal2') throw aal2Required();
  }

  /** The caller's own factor; another user's id reads exactly like an unknown one. */
  async function ownFactor(tx: Tx, userId: string, factorId: string): Promise<MfaFactorRow> {
    if (!isUuid(factorId)) throw factorNotFound();
    const [factor] = await tx
      .select()
      .from(mfaFactors)
      .where(and(eq(mfaFactors.id, factorId), eq(mfaFactors.userId, userId)));
    if (!factor) throw factorNotFound();
    return factor;
  }

  async function hasVerifiedFactor(tx: Tx, userId: string): Promise<boolean> {
    const [row] = await tx
      .select({ id: mfaFactors.id })
      .from(mfaFactors)
      .where(and(eq(mfaFactors.userId, userId), eq(mfaFactors.status, 'verified')))
      .limit(1);
    return row !== undefined;
  }

  /**
   * Checks a code against the factor and spends its time step: a code works once, even
   * within its 30 s, and never one older than the last accepted.
   */
  async function spendCode(tx: Tx, factor: MfaFactorRow, code: string): Promise<void> {
    const secret = box.open(factor.secret, aadOf(factor.userId, factor.id));
    const step = matchingStep(secret, code, Date.now(), factor.lastUsedStep);
    if (step === null) throw wrongCode();
    await tx.update(mfaFactors).set({ lastUsedStep: step, updatedAt: sql`now()` }).where(eq(mfaFactors.id, factor.id));
  }

  /** Ten new codes replace every earlier one; only their HMACs are kept. */
  async function replaceRecoveryCodes(tx: Tx, userId: string): Promise<string[]> {
    await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
    const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
    await tx.insert(mfaRecoveryCodes).values(codes.map((c) => ({ userId, codeHash: recoveryHash(userId, c) })));
    return codes.map((c) => `${c.slice(0, 5)}-${c.slice(5)}`);
  }

  async function unusedRecoveryCodes(tx: Tx, userId: string): Promise<number> {
    const [row] = await tx
      .select({ n: count() })
      .from(mfaRecoveryCodes)
      .where(and(eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)));
    return row?.n ?? 0;
  }

  /** Drops abandoned enrollments, then the oldest unfinished ones until a new factor fits. */
  async function makeRoom(tx: Tx, userId: string): Promise<void> {
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

  /** The session passed a second factor: aal2, a fresh refresh token, the payload's data. */
  async function elevate(tx: Tx, session: SessionRow, user: UserRow, method: string) {
    const elevated = await grants.elevateSession(tx, session, method);
    return grants.grant(tx, user, elevated.session, elevated.refreshToken);
  }

  /** The rate limit of code guesses (per user and per client), counted before any database work. */
  const countAttempt = (caller: MfaCaller) => limiter.consume(reauthChecks('mfa_verify', caller.userId, caller.ip));

  return {
    /** The user's factors, oldest first; abandoned enrollments are left out. */
    async factors(userId: string): Promise<MfaFactorView[]> {
      const rows = await db
        .select()
        .from(mfaFactors)
        .where(and(eq(mfaFactors.userId, userId), or(eq(mfaFactors.status, 'verified'), sql`not ${stale()}`)))
        .orderBy(asc(mfaFactors.createdAt), asc(mfaFactors.id));
      return rows.map(toView);
    },

    /**
     * A new, unverified TOTP factor; its secret is shown this once. With a verified factor
     * already, only an aal2 session may add another: else a stolen password would be enough
     * to plant an authenticator of the thief's.
     */
    async enroll(caller: MfaCaller, rawName: string | null | undefined): Promise<MfaEnrollment> {
      const friendlyName = checkFriendlyName(rawName);
      const secret = new Secret({ size: SECRET_BYTES });
      const factorId = randomUUID();
      const user = await db.transaction(async (tx) => {
        const { session, user } = await liveSession(tx, caller);
        if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
        await makeRoom(tx, caller.userId);
        await tx.insert(mfaFactors).values({
          id: factorId,
          userId: caller.userId,
          factorType: 'totp',
          friendlyName,
          status: 'unverified',
          secret: box.seal(Buffer.from(secret.bytes), aadOf(caller.userId, factorId)),
        });
        return user;
      });
      const uri = new TOTP({ issuer, label: user.email ?? user.id, secret, ...TOTP_PARAMS }).toString();
      const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
      return {
        factorId,
        secret: secret.base32,
        uri,
        qrCode: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`,
      };
    },

    /**
     * The first code of a new factor proves the app holds the secret: the factor is verified
     * and this session passed it (aal2). Recovery codes come with the user's first factor.
     */
    async activate(caller: MfaCaller, factorId: string, rawCode: string): Promise<MfaActivation> {
      const code = checkTotpCode(rawCode);
      await countAttempt(caller);
      const outcome = await db.transaction(async (tx) => {
        const { session, user } = await liveSession(tx, caller);
        const factor = await ownFactor(tx, caller.userId, factorId);
        if (factor.status === 'verified') {
          throw new AuthError('BAD_USER_INPUT', 'This factor is already active; use mfaVerify.', {
            reason: 'FACTOR_ALREADY_VERIFIED',
          });
        }
        if (await isStale(tx, factor.id)) throw factorNotFound();
        // Else an aal1 session could finish an enrollment and come out aal2 without the
        // factor the user relies on.
        if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
        await spendCode(tx, factor, code);
        await tx
          .update(mfaFactors)
          .set({ status: 'verified', updatedAt: sql`now()` })
          .where(eq(mfaFactors.id, factor.id));
        const recoveryCodes =
          (await unusedRecoveryCodes(tx, caller.userId)) === 0 ? await replaceRecoveryCodes(tx, caller.userId) : [];
        return { granted: await elevate(tx, session, user, 'totp'), recoveryCodes };
      });
      return { session: await grants.issue(outcome.granted), recoveryCodes: outcome.recoveryCodes };
    },

    /** The challenge after sign-in: a code of a verified factor raises this session to aal2. */
    async verify(caller: MfaCaller, factorId: string, rawCode: string): Promise<AuthPayload> {
      const code = checkTotpCode(rawCode);
      await countAttempt(caller);
      const granted = await db.transaction(async (tx) => {
        const { session, user } = await liveSession(tx, caller);
        const factor = await ownFactor(tx, caller.userId, factorId);
        if (factor.status !== 'verified') {
          throw new AuthError('BAD_USER_INPUT', 'This factor is not active yet; use mfaActivate.', {
            reason: 'FACTOR_NOT_VERIFIED',
          });
        }
        await spendCode(tx, factor, code);
        return elevate(tx, session, user, 'totp');
      });
      return grants.issue(granted);
    },

    /** The way in without the phone: one recovery code, spent for good, raises to aal2. */
    async verifyRecoveryCode(caller: MfaCaller, rawCode: string): Promise<AuthPayload> {
      const code = normalizeRecoveryCode(rawCode);
      if (code === null) throw badInput('A recovery code is ten letters and digits.', 'code');
      await countAttempt(caller);
      const granted = await db.transaction(async (tx) => {
        const { session, user } = await liveSession(tx, caller);
        const spent = await tx
          .update(mfaRecoveryCodes)
          .set({ usedAt: sql`now()` })
          .where(
            and(
              eq(mfaRecoveryCodes.userId, caller.userId),
              eq(mfaRecoveryCodes.codeHash, recoveryHash(caller.userId, code)),
              isNull(mfaRecoveryCodes.usedAt),
            ),
          )
          .returning({ id: mfaRecoveryCodes.id });
        if (spent.length === 0) throw wrongCode();
        return elevate(tx, session, user, 'recovery_code');
      });
      return grants.issue(granted);
    },

    /**
     * Removes a factor; with a verified one at stake that takes an aal2 session. The last
     * verified factor takes the recovery codes with it: they stand in for a factor.
     */
    async unenroll(caller: MfaCaller, factorId: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const { session } = await liveSession(tx, caller);
        const factor = await ownFactor(tx, caller.userId, factorId);
        // A user without a verified factor has nothing beyond aal1 to protect, and could
        // not reach aal2 to clear an enrollment they gave up on.
        if (await hasVerifiedFactor(tx, caller.userId)) requireAal2(caller, session);
        await tx.delete(mfaFactors).where(eq(mfaFactors.id, factor.id));
        if (!(await hasVerifiedFactor(tx, caller.userId))) {
          await tx.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, caller.userId));
        }
        return true;
      });
    },

    /** A new set of recovery codes (the old ones stop working); aal2 only. */
    async regenerateRecoveryCodes(caller: MfaCaller): Promise<string[]> {
      return db.transaction(async (tx) => {
        const { session } = await liveSession(tx, caller);
        requireAal2(caller, session);
        if (!(await hasVerifiedFactor(tx, caller.userId))) {
          throw new AuthError('BAD_USER_INPUT', 'Recovery codes need an active factor.', {
            reason: 'NO_VERIFIED_FACTOR',
          });
        }
        return replaceRecoveryCodes(tx, caller.userId);
      });
    },
  };
}

/** An unverified factor older than UNVERIFIED_TTL_S. */
const stale = () => sql`(${mfaFactors.createdAt} < now() - make_interval(secs => ${UNVERIFIED_TTL_S}))`;

async function isStale(tx: Tx, factorId: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: mfaFactors.id })
    .from(mfaFactors)
    .where(and(eq(mfaFactors.id, factorId), stale()));
  return row !== undefined;
}

const toView = (r: MfaFactorRow): MfaFactorView => ({
  id: r.id,
  factorType: r.factorType,
  friendlyName: r.friendlyName,
  status: r.status,
  createdAt: r.createdAt,
});

/** Binds a ciphertext to its row: a secret copied into another user's factor does not open. */
const aadOf = (userId: string, factorId: string) => `mfa_factors:${userId}:${factorId}`;

/** The generic box (src/auth/crypto.ts) with TOTP's error label, opening to an otpauth Secret. */
function totpBox(key: Buffer) {
  const box = secretBox(key, 'mfa secret');
  return {
    seal: box.seal,
    open(stored: string, aad: string): Secret {
      const plain = box.open(stored, aad);
      return new Secret({ buffer: plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength) });
    },
  };
}

/**
 * The time step a code belongs to, within WINDOW steps of now and after the last one
 * accepted; null when none. Every candidate is compared in constant time.
 */
export function matchingStep(secret: Secret, code: string, nowMs: number, lastUsedStep: number | null): number | null {
  const now = Math.floor(nowMs / 1000 / TOTP_PARAMS.period);
  let found: number | null = null;
  for (let step = now - WINDOW; step <= now + WINDOW; step++) {
    if (lastUsedStep !== null && step <= lastUsedStep) continue;
    const expected = HOTP.generate({ secret, counter: step, ...TOTP_PARAMS });
    if (found === null && constantTimeEqual(expected, code)) found = step;
  }
  return found;
}

/** Six digits; spaces, as apps show "123 456", are ignored. */
function checkTotpCode(raw: string): string {
  const code = raw.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) throw badInput('A code is six digits.', 'code');
  return code;
}

function checkFriendlyName(raw: string | null | undefined): string | null {
  const name = raw?.trim() ?? '';
  if (name === '') return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if ([...name].length > FRIENDLY_NAME_MAX || /[\u0000-\u001f\u007f]/.test(name)) {
    throw badInput(`friendlyName is at most ${FRIENDLY_NAME_MAX} printable characters.`, 'friendlyName');
  }
  return name;
}

/** Ten base32 characters (50 bits) in their canonical form; shown to people as xxxxx-xxxxx. */
function newRecoveryCode(): string {
  return Array.from({ length: RECOVERY_LENGTH }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join('');
}

/** The canonical form that is hashed: lower case, without the dash or spaces people type. */
function normalizeRecoveryCode(raw: string): string | null {
  const code = raw.toLowerCase().replace(/[\s-]+/g, '');
  return code.length === RECOVERY_LENGTH && [...code].every((c) => RECOVERY_ALPHABET.includes(c)) ? code : null;
}
