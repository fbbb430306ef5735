import { and, asc, eq, or, sql } from 'drizzle-orm';
import { type MfaFactorRow, mfaFactors } from '../../../db/schema.js';
import type { AuthDeps } from '../../deps.js';
import { stale } from './factor-session.js';

/** A factor as the GraphQL layer shows it; never its secret. */
export type MfaFactorView = {
  id: string;
  factorType: string;
  friendlyName: string | null;
  status: 'unverified' | 'verified';
  createdAt: Date;
};

/** The user's factors, oldest first; abandoned enrollments are left out. */
export async function factors(deps: Pick<AuthDeps, 'db'>, userId: string): Promise<MfaFactorView[]> {
  const rows = await deps.db
    .select()
    .from(mfaFactors)
    .where(and(eq(mfaFactors.userId, userId), or(eq(mfaFactors.status, 'verified'), sql`not ${stale()}`)))
    .orderBy(asc(mfaFactors.createdAt), asc(mfaFactors.id));
  return rows.map(toView);
}

const toView = (r: MfaFactorRow): MfaFactorView => ({
  id: r.id,
  factorType: r.factorType,
  friendlyName: r.friendlyName,
  status: r.status,
  createdAt: r.createdAt,
});
