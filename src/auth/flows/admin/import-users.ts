import { eq, sql } from 'drizzle-orm';
import type { Config } from '../../../config.js';
import type { Tx } from '../../../db/client.js';
import { identities, profiles, users } from '../../../db/schema.js';
import { syncProviders } from '../../app-metadata.js';
import type { AuthDeps } from '../../deps.js';
import { AuthError, isUniqueViolation } from '../../errors.js';
import { checkHash } from '../../password-formats.js';
import { checkMetadata, checkText, checkUrl, checkUsername, normalizeEmail } from '../../validate.js';
import { releasePendingClaims } from '../address-proof.js';
import { ensureEmailIdentity } from '../email/identity.js';

/** One account of an export, already read from its file (src/ops/users-import.ts). */
export type ImportUser = {
  /** Where the row is, for the report: "users.csv:12". */
  at: string;
  id: string;
  email: string | null;
  /** When the source says the address was proven; null: never proven, and it stays so. */
  emailConfirmedAt: Date | null;
  /** As exported; kept only when checkHash accepts it. Never printed. */
  passwordHash: string | null;
  userMetadata: unknown;
  appMetadata: unknown;
  createdAt: Date | null;
  lastSignInAt: Date | null;
  bannedUntil: Date | null;
  identities: Array<{ provider: string; providerId: string; identityData: Record<string, unknown> }>;
};

export type ImportOptions = { dryRun: boolean; strict: boolean; batchSize: number };

export type ImportProblem = { at: string; message: string };

export type ImportReport = {
  created: number;
  /** Already imported (same id): left exactly as it is. */
  existing: number;
  conflicts: ImportProblem[];
  errors: ImportProblem[];
  /** Accounts created without a password, by why: they sign in with a mailed link or recovery. */
  withoutPassword: { none: number; unknown_format: number; weak_parameters: number };
  /** Identities of providers this gateway has not configured (their users keep their other ways in). */
  identitiesSkipped: number;
};

type Outcome =
  | {
      kind: 'created';
      passwordDropped: 'none' | 'unknown_format' | 'weak_parameters' | null;
      identitiesSkipped: number;
    }
  | { kind: 'existing' };

/** Thrown to roll back a dry run's batch once its outcome is known. */
class DryRun extends Error {}

/** The import's answer when a row conflicts under --strict: everything rolls back. */
class StrictStop extends Error {}

/**
 * Creates the accounts of an export with their ids, addresses (proven or not, as the source
 * says), metadata, identities and password hashes. Batches commit one by one; each row runs
 * in its own savepoint, so a bad row is reported and skipped, never half-written. A row
 * whose id exists already is left as it is, so a rerun changes nothing. `--strict` makes
 * the whole file one transaction that any bad row rolls back.
 */
export async function importUsers(
  deps: Pick<AuthDeps, 'db'> & { config: Pick<Config, 'mail' | 'oidc' | 'trustedIssuers'> },
  rows: ImportUser[],
  opts: ImportOptions,
): Promise<ImportReport> {
  const report = emptyCounts();
  const issuers = new Map<string, string>([
    ...deps.config.oidc.providers.map((p) => [p.name, p.issuer] as const),
    ...deps.config.trustedIssuers.map((p) => [p.name, p.issuer] as const),
  ]);
  const requireConfirmation = deps.config.mail.requireConfirmation;
  const batches = opts.strict ? [rows] : chunk(rows, opts.batchSize);
  for (const batch of batches) {
    const counted = emptyCounts();
    try {
      await deps.db.transaction(async (tx) => {
        for (const row of batch)
          await importOne(tx, row, { issuers, requireConfirmation, strict: opts.strict }, counted);
        if (opts.dryRun) throw new DryRun();
      });
    } catch (err) {
      if (!(err instanceof DryRun || err instanceof StrictStop)) throw err;
    }
    merge(report, counted);
  }
  return report;
}

type Ctx = { issuers: Map<string, string>; requireConfirmation: boolean; strict: boolean };

function emptyCounts(): ImportReport {
  return {
    created: 0,
    existing: 0,
    conflicts: [],
    errors: [],
    withoutPassword: { none: 0, unknown_format: 0, weak_parameters: 0 },
    identitiesSkipped: 0,
  };
}

function merge(into: ImportReport, from: ImportReport): void {
  into.created += from.created;
  into.existing += from.existing;
  into.conflicts.push(...from.conflicts);
  into.errors.push(...from.errors);
  for (const k of ['none', 'unknown_format', 'weak_parameters'] as const)
    into.withoutPassword[k] += from.withoutPassword[k];
  into.identitiesSkipped += from.identitiesSkipped;
}

/** A row that would take what another account holds: reported, and its savepoint undone. */
class RowConflict extends Error {}

/** Bad data Postgres refused (a date out of range, a constraint): the row's fault, not the run's. */
function rowFault(err: unknown): string | null {
  if (err instanceof AuthError) return `${err.code}: ${err.message}`;
  const e = (err as { cause?: unknown })?.cause ?? err;
  const code = (e as { code?: unknown } | null)?.code;
  // Only the message: Postgres's detail of a failing row would show its hash.
  return typeof code === 'string' && /^2[23]/.test(code) ? `database refused the row: ${(e as Error).message}` : null;
}

/** One row in its savepoint: counted in `counts`; under --strict a bad row stops everything. */
async function importOne(tx: Tx, row: ImportUser, ctx: Ctx, counts: ImportReport): Promise<void> {
  let outcome: Outcome;
  try {
    outcome = await tx.transaction((sp) => writeUser(sp, row, ctx));
  } catch (err) {
    if (err instanceof RowConflict || isUniqueViolation(err, 'users_email_key')) {
      counts.conflicts.push({
        at: row.at,
        message: err instanceof RowConflict ? err.message : 'another account holds the address',
      });
    } else {
      const message = rowFault(err);
      if (message === null) throw err;
      counts.errors.push({ at: row.at, message });
    }
    if (ctx.strict) throw new StrictStop();
    return;
  }
  if (outcome.kind === 'created') {
    counts.created++;
    if (outcome.passwordDropped) counts.withoutPassword[outcome.passwordDropped]++;
    counts.identitiesSkipped += outcome.identitiesSkipped;
  } else counts.existing++;
}

async function writeUser(tx: Tx, row: ImportUser, ctx: Ctx): Promise<Outcome> {
  const [present] = await tx.select({ id: users.id }).from(users).where(eq(users.id, row.id));
  if (present) return { kind: 'existing' };
  const email = row.email === null ? null : normalizeEmail(row.email);
  const confirmed = email !== null && row.emailConfirmedAt !== null;
  // An address nobody proved counts for nothing, as a registration waiting for its link:
  // pending where addresses need proof (no sign-in until then), else held but unconfirmed.
  const pending = email !== null && !confirmed && ctx.requireConfirmation;
  const userMetadata = checkMetadata(row.userMetadata, 'user_metadata');
  // provider(s) are ours to compute from the identities below.
  const { provider: _p, providers: _ps, ...appMetadata } = checkMetadata(row.appMetadata, 'app_metadata');
  if (email !== null && !pending) {
    const [holder] = await tx.select({ id: users.id }).from(users).where(eq(users.email, email));
    if (holder) throw new RowConflict(`another account (${holder.id}) holds ${email}`);
  }
  const check = row.passwordHash === null ? null : checkHash(row.passwordHash);
  const hash = check?.ok && row.passwordHash !== null ? row.passwordHash : null;
  const passwordDropped = check === null ? 'none' : check.ok ? null : check.reason;
  const [user] = await tx
    .insert(users)
    .values({
      id: row.id,
      email: pending ? null : email,
      pendingEmail: pending ? email : null,
      encryptedPassword: hash,
      rawUserMetaData: userMetadata,
      rawAppMetaData: appMetadata,
      emailConfirmedAt: confirmed ? row.emailConfirmedAt : null,
      bannedUntil: row.bannedUntil,
      lastSignInAt: row.lastSignInAt,
      ...(row.createdAt ? { createdAt: row.createdAt } : {}),
    })
    .returning();
  if (!user) throw new Error('user insert returned nothing');
  // A password and an address: password sign-in is a way in, as after sign-up.
  if (email !== null && hash !== null) await ensureEmailIdentity(tx, user, email);
  let identitiesSkipped = 0;
  for (const identity of row.identities) {
    const issuer = ctx.issuers.get(identity.provider);
    if (issuer === undefined) {
      identitiesSkipped++;
      continue;
    }
    const inserted = await tx
      .insert(identities)
      .values({
        userId: row.id,
        provider: identity.provider,
        issuer,
        providerId: identity.providerId,
        identityData: checkMetadata(identity.identityData, 'identity_data'),
      })
      .onConflictDoNothing()
      .returning({ id: identities.id });
    if (inserted.length === 0) {
      throw new RowConflict(`another account holds the ${identity.provider} identity ${identity.providerId}`);
    }
  }
  await syncProviders(tx, row.id);
  await tx.insert(profiles).values({ id: row.id, ...(await profileOf(tx, userMetadata)) });
  if (confirmed && email !== null) await releasePendingClaims(tx, email, row.id);
  return { kind: 'created', passwordDropped, identitiesSkipped };
}

/**
 * The profile fields sign-up would seed from the metadata, where they are valid; an export
 * is not refused for a profile field, and a username another profile has stays unset.
 */
async function profileOf(tx: Tx, data: Record<string, unknown>) {
  const valid = <T>(key: string, check: (v: string) => T): T | null => {
    const v = data[key];
    if (typeof v !== 'string') return null;
    try {
      return check(v);
    } catch {
      return null;
    }
  };
  let username = valid('username', checkUsername);
  if (username !== null) {
    const [taken] = await tx
      .select({ id: profiles.id })
      .from(profiles)
      .where(sql`lower(${profiles.username}) = lower(${username})`);
    if (taken) username = null;
  }
  return {
    username,
    fullName: valid('full_name', (v) => checkText(v, 'full_name')),
    avatarUrl: valid('avatar_url', (v) => checkUrl(v, 'avatar_url')),
    website: valid('website', (v) => checkUrl(v, 'website')),
  };
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
