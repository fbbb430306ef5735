import { and, eq, gt, sql } from 'drizzle-orm';
import type { Tx } from '../db/client.js';
import { authCodes, type IdentityRow, identities, profiles, type UserRow, users } from '../db/schema.js';
import { proveAddress, releasePendingClaims } from './address-proof.js';
import { syncProviders } from './app-metadata.js';
import { type Caller, callerState, requireAal2IfEnrolled } from './assurance.js';
import type { AuthDeps } from './deps.js';
import { AuthError, bannedError } from './errors.js';
import type { ExternalIdentity } from './external.js';
import { type AuthPayload, type ClientInfo, isBanned } from './model.js';
import { hashSecret, looksLikeSecret, pkceChallenge } from './secret.js';
import { normalizeEmail } from './validate.js';

/** The user a trusted issuer's token stands for, as the request's claims need it. */
export type ExternalUser = {
  id: string;
  email: string | null;
  appMetadata: Record<string, unknown>;
  userMetadata: Record<string, unknown>;
};

export type IdentityView = {
  id: string;
  provider: string;
  providerId: string;
  email: string | null;
  createdAt: Date;
  lastSignInAt: Date | null;
};

type Vouched = {
  /** The configured name, shown to people. */
  provider: string;
  /** The verified iss: with providerId, what the identity is keyed by. */
  issuer: string;
  providerId: string;
  email: string | null;
  emailVerified: boolean;
  identityData: Record<string, unknown>;
};

// Mapping a trusted issuer's subject to our user costs a query; requests reuse it for a
// while. Bans and deletions still act on the next request (auth.require_active_user).
const EXTERNAL_CACHE_MS = 30_000;
const EXTERNAL_CACHE_SIZE = 10_000;

export type IdentityService = ReturnType<typeof createIdentityService>;

/**
 * Users who come from elsewhere: trusted issuers' tokens (created just in time) and
 * provider sign-ins finished by a one-time code; plus listing, linking and unlinking.
 */
export function createIdentityService(deps: AuthDeps) {
  const { db, grants, limiter } = deps;
  const providers = new Map(deps.config.oidc.providers.map((p) => [p.name, p]));
  const externalCache = new Map<string, { user: ExternalUser; until: number }>();

  /** Serialises the first sign-in of one identity across requests and instances. */
  const lockIdentity = (tx: Tx, issuer: string, providerId: string) =>
    tx.execute(
      sql`select pg_advisory_xact_lock(hashtextextended(${`identity:${JSON.stringify([issuer, providerId])}`}, 0))`,
    );

  /**
   * By issuer, not by the configured name: two entries that share a name (or a renamed
   * one) must never let one issuer's subject open another issuer's account.
   */
  async function findIdentity(tx: Tx, issuer: string, providerId: string): Promise<IdentityRow | undefined> {
    const [row] = await tx
      .select()
      .from(identities)
      .where(and(eq(identities.issuer, issuer), eq(identities.providerId, providerId)));
    return row;
  }

  /** A new user for an identity no user has; the email only when nobody holds it yet. */
  async function createUser(tx: Tx, v: Vouched): Promise<UserRow> {
    let email = v.email;
    if (email !== null) {
      const [holder] = await tx.select({ id: users.id }).from(users).where(eq(users.email, email));
      if (holder) email = null;
    }
    const [user] = await tx
      .insert(users)
      .values({
        email,
        rawAppMetaData: { provider: v.provider, providers: [v.provider] },
        emailConfirmedAt: email !== null && v.emailVerified ? sql`now()` : null,
        lastSignInAt: sql`now()`,
      })
      .returning();
    if (!user) throw new Error('user insert returned nothing');
    await addIdentity(tx, user, v);
    await tx.insert(profiles).values({ id: user.id });
    if (email !== null && v.emailVerified) await releasePendingClaims(tx, email, user.id);
    return user;
  }

  async function addIdentity(tx: Tx, user: UserRow, v: Vouched): Promise<UserRow> {
    await insertIdentity(tx, user.id, v);
    return syncProviders(tx, user.id);
  }

  async function insertIdentity(tx: Tx, userId: string, v: Vouched): Promise<string> {
    const [row] = await tx
      .insert(identities)
      .values({
        userId,
        provider: v.provider,
        issuer: v.issuer,
        providerId: v.providerId,
        identityData: v.identityData,
        lastSignInAt: sql`now()`,
      })
      .returning({ id: identities.id });
    if (!row) throw new Error('identity insert returned nothing');
    return row.id;
  }

  return {
    /**
     * Our user for a trusted issuer's token, created with a profile on first sight. An
     * existing account with the same email is never taken over: the new user gets none.
     */
    async resolveExternal(ext: ExternalIdentity): Promise<ExternalUser> {
      const key = `${ext.issuer}\u0000${ext.subject}`;
      const hit = externalCache.get(key);
      if (hit && hit.until > Date.now()) return hit.user;
      const user = await db.transaction(async (tx) => {
        await lockIdentity(tx, ext.issuer, ext.subject);
        const found = await findIdentity(tx, ext.issuer, ext.subject);
        if (found) {
          const [u] = await tx.select().from(users).where(eq(users.id, found.userId));
          if (u) return u;
        }
        return createUser(tx, {
          provider: ext.provider,
          issuer: ext.issuer,
          providerId: ext.subject,
          // Only an address the issuer says it verified becomes the account's: anything
          // else would let whoever controls a token's email claim squat the address. It
          // stays in the identity either way.
          email: ext.emailVerified === true ? providerEmail(ext.email) : null,
          emailVerified: ext.emailVerified === true,
          identityData: { sub: ext.subject, iss: ext.issuer, email: ext.email, email_verified: ext.emailVerified },
        });
      });
      const view: ExternalUser = {
        id: user.id,
        email: user.email,
        appMetadata: user.rawAppMetaData,
        userMetadata: user.rawUserMetaData,
      };
      if (externalCache.size >= EXTERNAL_CACHE_SIZE) {
        const oldest = externalCache.keys().next().value;
        if (oldest !== undefined) externalCache.delete(oldest);
      }
      externalCache.set(key, { user: view, until: Date.now() + EXTERNAL_CACHE_MS });
      return view;
    },

    /**
     * Finishes a provider sign-in or link: spends the one-time code (whatever happens next),
     * checks the client's PKCE verifier, then finds, links or creates the user and starts a
     * session. A link only completes for the user who started it.
     */
    async exchangeCode(
      input: { code: string; codeVerifier?: string | null },
      viewer: { id: string } | null,
      client: ClientInfo,
    ): Promise<AuthPayload> {
      await limiter.consume([{ limit: 'token_ip', subject: client.ip }]);
      const invalid = () =>
        new AuthError('BAD_USER_INPUT', 'The code is invalid, expired or already used.', { reason: 'INVALID_CODE' });
      if (!looksLikeSecret(input.code)) throw invalid();
      const [row] = await db
        .delete(authCodes)
        .where(and(eq(authCodes.codeHash, hashSecret(input.code)), gt(authCodes.expiresAt, sql`now()`)))
        .returning();
      if (!row) throw invalid();
      if (row.clientChallenge !== null) {
        const verifier = input.codeVerifier ?? '';
        if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || pkceChallenge(verifier) !== row.clientChallenge) {
          throw invalid();
        }
      }
      if (row.linkUserId !== null && viewer?.id !== row.linkUserId) {
        throw new AuthError('FORBIDDEN', 'Only the user who started this link can finish it.');
      }
      const data = row.identityData;
      // The callback stored the ID token's verified iss; without it there is nothing to key by.
      if (typeof data.iss !== 'string' || data.iss.length === 0) throw invalid();
      const vouched: Vouched = {
        provider: row.provider,
        issuer: data.iss,
        providerId: row.providerId,
        email: providerEmail(typeof data.email === 'string' ? data.email : null),
        emailVerified: data.email_verified === true,
        identityData: data,
      };
      const granted = await db.transaction(async (tx) => {
        await lockIdentity(tx, vouched.issuer, vouched.providerId);
        const existing = await findIdentity(tx, vouched.issuer, vouched.providerId);
        let user: UserRow | undefined;
        if (existing && row.linkUserId !== null && existing.userId !== row.linkUserId) {
          throw new AuthError('FORBIDDEN', 'This identity belongs to another account.', {
            reason: 'IDENTITY_ALREADY_LINKED',
          });
        }
        if (existing) {
          await tx
            .update(identities)
            .set({ identityData: data, lastSignInAt: sql`now()`, updatedAt: sql`now()` })
            .where(eq(identities.id, existing.id));
          [user] = await tx.select().from(users).where(eq(users.id, existing.userId));
        } else if (row.linkUserId !== null) {
          const [target] = await tx.select().from(users).where(eq(users.id, row.linkUserId));
          if (!target) throw new AuthError('UNAUTHENTICATED');
          user = await addIdentity(tx, target, vouched);
        } else {
          const [holder] =
            vouched.email === null ? [] : await tx.select().from(users).where(eq(users.email, vouched.email));
          if (holder) {
            // Merging on an email is only as safe as the provider's word that the email is
            // its user's: only for providers configured to be trusted, and verified emails.
            if (!(providers.get(vouched.provider)?.trustEmail && vouched.emailVerified)) {
              throw new AuthError(
                'EMAIL_TAKEN',
                'An account with this email already exists; sign in to it and link this provider.',
              );
            }
            // Into an account whose address was never proven, this is its first proof:
            // whoever made it (and set a password) loses it to the prover (proveAddress).
            const identityId = await insertIdentity(tx, holder.id, vouched);
            await proveAddress(tx, holder.id, { identityId });
            user = await syncProviders(tx, holder.id);
          } else {
            // An unverified email is kept in the identity only: as the account's email it
            // would lock the real owner out of signing up.
            user = await createUser(tx, { ...vouched, email: vouched.emailVerified ? vouched.email : null });
          }
        }
        if (!user) throw invalid();
        if (isBanned(user)) throw bannedError();
        const [signedIn] = await tx
          .update(users)
          .set({ lastSignInAt: sql`now()` })
          .where(eq(users.id, user.id))
          .returning();
        const { session, refreshToken } = await grants.startSession(tx, signedIn ?? user, client, 'oauth');
        return grants.grant(tx, signedIn ?? user, session, refreshToken);
      });
      return grants.issue(granted);
    },

    /** The caller's identities, oldest first. */
    async list(userId: string): Promise<IdentityView[]> {
      const rows = await db
        .select()
        .from(identities)
        .where(eq(identities.userId, userId))
        .orderBy(identities.createdAt);
      return rows.map(toIdentityView);
    },

    /**
     * Removes one of the caller's identities, never the last: a user must keep a way in.
     * With a verified factor it takes an aal2 session.
     * Unlinking "email" also removes the password. False when it is not the caller's.
     */
    async unlink(caller: Caller, identityId: string): Promise<boolean> {
      const userId = caller.id;
      return db.transaction(async (tx) => {
        // A way in is part of how the account is held: aal2 once a factor is verified.
        requireAal2IfEnrolled(await callerState(tx, caller), caller);
        const rows = await tx.select().from(identities).where(eq(identities.userId, userId)).for('update');
        const target = rows.find((r) => r.id === identityId);
        if (!target) return false;
        if (rows.length === 1) {
          throw new AuthError('FORBIDDEN', 'The last way to sign in cannot be unlinked.', { reason: 'LAST_IDENTITY' });
        }
        await tx.delete(identities).where(eq(identities.id, target.id));
        if (target.provider === 'email') {
          await tx.update(users).set({ encryptedPassword: null }).where(eq(users.id, userId));
        }
        await syncProviders(tx, userId);
        for (const [key, entry] of externalCache) if (entry.user.id === userId) externalCache.delete(key);
        return true;
      });
    },
  };
}

/** A provider's email as we store emails, or null when it is not one we would accept. */
function providerEmail(raw: string | null): string | null {
  if (raw === null) return null;
  try {
    return normalizeEmail(raw);
  } catch {
    return null;
  }
}

function toIdentityView(r: IdentityRow): IdentityView {
  const email = r.identityData.email;
  return {
    id: r.id,
    provider: r.provider,
    providerId: r.providerId,
    email: typeof email === 'string' ? email : null,
    createdAt: r.createdAt,
    lastSignInAt: r.lastSignInAt,
  };
}
