import { type SQL, sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgPolicy,
  pgRole,
  pgSchema,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

// Roles are cluster-wide, so they are created idempotently by a custom migration
// (drizzle/0001_roles_and_functions.sql); here they are only named for the policies.
export const anonRole = pgRole('anon').existing();
export const authenticatedRole = pgRole('authenticated').existing();
export const authAdminRole = pgRole('authgate_auth').existing();

export const authSchema = pgSchema('auth');

const createdAt = () => timestamp({ withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp({ withTimezone: true }).notNull().defaultNow();

export const users = authSchema.table(
  'users',
  {
    id: uuid().primaryKey().defaultRandom(),
    // Null for a user who came from an identity provider that vouched for no (unclaimed)
    // email; the API and the claims show it as "", as Supabase does for phone users.
    email: text(),
    // An address the user gave that nobody has proven yet (a registration waiting for its
    // confirmation link, a first address, the new address of a change). It counts for
    // nothing: it is in no token, holds no address, and receives no sign-in.
    pendingEmail: text(),
    // An email change: the new address proved itself (its link was used)...
    pendingEmailProven: boolean().notNull().default(false),
    // ...and the current address approved the change (or did not need to).
    pendingEmailApproved: boolean().notNull().default(false),
    encryptedPassword: text(),
    role: text().notNull().default('authenticated'),
    rawUserMetaData: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    rawAppMetaData: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    emailConfirmedAt: timestamp({ withTimezone: true }),
    isAnonymous: boolean().notNull().default(false),
    bannedUntil: timestamp({ withTimezone: true }),
    lastSignInAt: timestamp({ withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('users_email_key').on(t.email),
    index('users_pending_email_idx').on(t.pendingEmail),
    index('users_created_at_id_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    check('users_email_lower', sql`${t.email} = lower(btrim(${t.email}))`),
    check('users_pending_email_lower', sql`${t.pendingEmail} = lower(btrim(${t.pendingEmail}))`),
  ],
);

export const identities = authSchema.table(
  'identities',
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // The configured name, for people (app_metadata.providers, the Identity type).
    provider: text().notNull(),
    // Who vouches for the subject: the verified token's iss ("email" for the password and
    // mailed links). Identities are keyed by it, never by a name an operator can reuse.
    issuer: text().notNull(),
    providerId: text().notNull(),
    identityData: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    lastSignInAt: timestamp({ withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('identities_issuer_subject_key').on(t.issuer, t.providerId),
    index('identities_user_id_idx').on(t.userId),
  ],
);

export const sessions = authSchema.table(
  'sessions',
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    aal: text().notNull().default('aal1'),
    // How the session was authenticated (password, otp, oauth, totp…): every token of the
    // session carries it, refreshed ones too.
    amr: jsonb().$type<Array<{ method: string; timestamp: number }>>().notNull().default([]),
    userAgent: text(),
    ip: text(),
    notAfter: timestamp({ withTimezone: true }),
    refreshedAt: timestamp({ withTimezone: true }),
    // setActiveOrganization: carried as the org_id claim of tokens minted later, never trusted.
    activeOrganizationId: uuid().references((): AnyPgColumn => organizations.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('sessions_user_id_idx').on(t.userId)],
);

export const refreshTokens = authSchema.table(
  'refresh_tokens',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    tokenHash: text().notNull(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    sessionId: uuid()
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    parentId: bigint({ mode: 'number' }),
    // The session's assurance level when this token was minted: a token never carries its
    // holder past it, and a raised session retires the tokens minted below it.
    aal: text().$type<'aal1' | 'aal2'>().notNull().default('aal1'),
    spentAt: timestamp({ withTimezone: true }),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('refresh_tokens_token_hash_key').on(t.tokenHash),
    index('refresh_tokens_session_id_idx').on(t.sessionId),
  ],
);

// A sign-in or link started at an OpenID provider, waiting for the provider's callback.
// Found by the SHA-256 of its state, used once, dead after ten minutes.
export const oidcFlows = authSchema.table(
  'oidc_flows',
  {
    stateHash: text().primaryKey(),
    provider: text().notNull(),
    // Sent to the provider's token endpoint with the code (PKCE); useless without that code.
    codeVerifier: text().notNull(),
    nonce: text().notNull(),
    redirectTo: text().notNull(),
    // The single-page app's own PKCE challenge, checked when it exchanges the one-time code.
    clientChallenge: text(),
    // Set for a link started by a signed-in user: the identity joins that user, no other.
    linkUserId: uuid().references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('oidc_flows_expires_at_idx').on(t.expiresAt)],
);

// What a provider vouched for at the callback, waiting for the client to exchange the
// one-time code it was redirected with; nothing is written to users or identities before.
export const authCodes = authSchema.table(
  'auth_codes',
  {
    codeHash: text().primaryKey(),
    provider: text().notNull(),
    providerId: text().notNull(),
    identityData: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    clientChallenge: text(),
    linkUserId: uuid().references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('auth_codes_expires_at_idx').on(t.expiresAt)],
);

// Secrets sent by email: confirmation, recovery, magic link (with its six-digit code) and
// email change. One live token per user and kind; used once; stored hashed.
export const oneTimeTokens = authSchema.table(
  'one_time_tokens',
  {
    id: uuid().primaryKey().defaultRandom(),
    // Null for a magic link to an address with no account yet (createUser): the account
    // is made when the link is used, so asking for a mail creates nothing.
    userId: uuid().references(() => users.id, { onDelete: 'cascade' }),
    kind: text().$type<OneTimeKind>().notNull(),
    tokenHash: text().notNull(),
    // HMAC with a server key: a plain hash of six digits is reversed in microseconds.
    codeHash: text(),
    // Where it was sent: the new address for an email change.
    email: text().notNull(),
    attempts: integer().notNull().default(0),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('one_time_tokens_token_hash_key').on(t.tokenHash),
    uniqueIndex('one_time_tokens_user_kind_key').on(t.userId, t.kind),
    uniqueIndex('one_time_tokens_pending_email_kind_key').on(t.email, t.kind).where(sql`${t.userId} is null`),
  ],
);
/**
 * confirmation: proves a registration's (or a first) address; email_change: proves the new
 * address of a change; email_change_current: the current address approves the change.
 */
export type OneTimeKind = 'confirmation' | 'recovery' | 'magiclink' | 'email_change' | 'email_change_current';

// TOTP factors (RFC 6238). The secret is encrypted with a server key: it must be read
// back to check codes, so a hash would not do.
export const mfaFactors = authSchema.table(
  'mfa_factors',
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    factorType: text().notNull().default('totp'),
    friendlyName: text(),
    status: text().$type<'unverified' | 'verified'>().notNull().default('unverified'),
    secret: text().notNull(),
    // The last accepted time step: a code is good once, even within its 30 s.
    lastUsedStep: bigint({ mode: 'number' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('mfa_factors_user_id_idx').on(t.userId)],
);

export const mfaRecoveryCodes = authSchema.table(
  'mfa_recovery_codes',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text().notNull(),
    usedAt: timestamp({ withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [index('mfa_recovery_codes_user_id_idx').on(t.userId)],
);

// Passkeys (WebAuthn credentials). Only public keys: nothing here opens an account on its
// own. RLS is forced and only the auth path's role has a policy (drizzle/0020_passkeys.sql).
export const passkeys = authSchema.table(
  'passkeys',
  {
    id: uuid().primaryKey().defaultRandom(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // base64url, as the browser reports it; unique across users, so a sign-in names one account.
    credentialId: text().notNull(),
    // The COSE public key, base64url.
    publicKey: text().notNull(),
    // The authenticator's signature counter; 0 for those that keep none (most synced passkeys).
    counter: bigint({ mode: 'number' }).notNull().default(0),
    transports: jsonb().$type<string[]>().notNull().default([]),
    name: text().notNull(),
    deviceType: text().notNull(),
    backedUp: boolean().notNull().default(false),
    createdAt: createdAt(),
    lastUsedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    uniqueIndex('passkeys_credential_id_key').on(t.credentialId),
    index('passkeys_user_id_idx').on(t.userId),
    // The auth path alone; requests (anon, authenticated) get no grant and no policy.
    pgPolicy('passkeys_auth_path', { for: 'all', to: authAdminRole, using: sql`true`, withCheck: sql`true` }),
  ],
);

/**
 * A WebAuthn challenge handed out and not yet answered: single-use (deleted when answered,
 * right or wrong), short-lived, kept as a SHA-256 only. Registration and step-up are bound to
 * the session that asked; a sign-in, which has no session yet, to the row's id (the flow id).
 */
export const passkeyChallenges = authSchema.table(
  'passkey_challenges',
  {
    id: uuid().primaryKey().defaultRandom(),
    kind: text().$type<'registration' | 'signin' | 'stepup'>().notNull(),
    challengeHash: text().notNull(),
    sessionId: uuid().references(() => sessions.id, { onDelete: 'cascade' }),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('passkey_challenges_session_id_idx').on(t.sessionId),
    index('passkey_challenges_expires_at_idx').on(t.expiresAt),
    pgPolicy('passkey_challenges_auth_path', { for: 'all', to: authAdminRole, using: sql`true`, withCheck: sql`true` }),
  ],
);

export const signingKeys = authSchema.table('signing_keys', {
  kid: text().primaryKey(),
  alg: text().notNull(),
  publicJwk: jsonb().$type<Record<string, unknown>>().notNull(),
  // Legacy plain text; emptied at start-up once sealed below.
  privateJwk: jsonb().$type<Record<string, unknown>>(),
  // The private JWK sealed (AES-256-GCM) with a key kept outside the database.
  sealedPrivateJwk: text(),
  createdAt: createdAt(),
  // Set when a newer key takes over; the key still verifies for one access-token lifetime.
  retiredAt: timestamp({ withTimezone: true }),
});

// Fixed-window attempt counters shared by every instance; keys are SHA-256 of
// "<limit>:<subject>", so no email or address is stored in the clear.
export const rateLimits = authSchema.table('rate_limits', {
  key: text().primaryKey(),
  windowStart: timestamp({ withTimezone: true }).notNull().defaultNow(),
  count: integer().notNull().default(0),
});

// One row per auth event (src/auth/audit.ts lists them), written in the transaction of the
// change it records. user_id and actor_id are no foreign keys: the row of a deletion must
// outlive the user it names, until retention (AUDIT_LOG_RETENTION_DAYS) takes it.
export const auditLog = authSchema
  .table(
    'audit_log',
    {
      id: uuid().primaryKey().defaultRandom(),
      // Who acted: the user (actor_id set), the service role, the gateway itself, or nobody
      // known (a failed sign-in).
      actorKind: text().notNull(),
      actorId: uuid(),
      // Whose account the event is about; null for a sign-in attempt at an unknown address.
      userId: uuid(),
      event: text().notNull(),
      ip: text(),
      userAgent: text(),
      detail: jsonb().$type<Record<string, unknown>>().notNull().default({}),
      // Text mode: keyset cursors carry the full microsecond value. The clock, not now(): the
      // rows of one transaction keep the order they were written in.
      createdAt: timestamp({ withTimezone: true, mode: 'string' }).notNull().default(sql`clock_timestamp()`),
    },
    (t) => [
      index('audit_log_user_id_created_at_id_idx').on(
        t.userId,
        t.createdAt.desc().nullsFirst(),
        t.id.desc().nullsFirst(),
      ),
      index('audit_log_created_at_id_idx').on(t.createdAt, t.id),
      check('audit_log_actor_kind', sql`${t.actorKind} in ('user', 'service_role', 'system', 'anonymous')`),
      check('audit_log_event_format', sql`${t.event} ~ '^[a-z_]+\\.[a-z_]+$'`),
      pgPolicy('audit_log_all_by_auth', { for: 'all', to: authAdminRole, using: sql`true`, withCheck: sql`true` }),
    ],
  )
  .enableRLS();

const owner = sql`id = (select auth.uid())`;

export const profiles = pgTable(
  'profiles',
  {
    id: uuid()
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    username: text(),
    fullName: text(),
    avatarUrl: text(),
    website: text(),
    isPublic: boolean().notNull().default(true),
    // Kept as Postgres text so keyset cursors carry the full microsecond value.
    createdAt: timestamp({ withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('profiles_username_key').on(sql`lower(${t.username})`),
    // DESC NULLS FIRST is what `order by created_at desc, id desc` means; an index in any
    // other null order cannot serve it and every page became a sort of the whole table.
    index('profiles_created_at_id_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    check('profiles_username_format', sql`${t.username} ~ '^[A-Za-z0-9_]{3,32}$'`),
    pgPolicy('profiles_select_visible', {
      for: 'select',
      to: [anonRole, authenticatedRole],
      using: sql`is_public or ${owner}`,
    }),
    pgPolicy('profiles_insert_own', {
      for: 'insert',
      to: authenticatedRole,
      withCheck: owner,
    }),
    pgPolicy('profiles_update_own', {
      for: 'update',
      to: authenticatedRole,
      using: owner,
      withCheck: owner,
    }),
    // Sign-up creates the profile in the user's own transaction, before any token exists.
    pgPolicy('profiles_insert_by_auth', { for: 'insert', to: authAdminRole, withCheck: sql`true` }),
    pgPolicy('profiles_select_by_auth', { for: 'select', to: authAdminRole, using: sql`true` }),
  ],
);

/** A member's place in an organisation; the policies and auth.has_org_role read it. */
export const ORG_ROLES = ['owner', 'admin', 'member'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

const memberOf = (col: SQL) => sql`(select auth.is_member(${col}))`;
const hasRole = (col: SQL, roles: string) => sql`(select auth.has_org_role(${col}, ${sql.raw(`'{${roles}}'`)}))`;
/** Owners act on anyone; admins on anyone but an owner (the row's role, old or new). */
const ownerOrAdminOverNonOwner = sql`${hasRole(sql`organization_id`, 'owner')} or (role <> 'owner' and ${hasRole(sql`organization_id`, 'admin')})`;

// In schema public beside profiles: app-facing data an app's own policies join to, reached by
// the request path's roles under RLS (forced). drizzle/0021_organizations.sql adds the
// helpers, the last-owner trigger, invitation acceptance and the audit trigger.
export const organizations = pgTable(
  'organizations',
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull(),
    slug: text().notNull(),
    createdBy: uuid().references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp({ withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('organizations_slug_key').on(t.slug),
    index('organizations_created_by_idx').on(t.createdBy),
    check('organizations_slug_format', sql`${t.slug} ~ '^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$'`),
    check('organizations_name_length', sql`char_length(${t.name}) BETWEEN 1 AND 100`),
    pgPolicy('organizations_all_by_auth', { for: 'all', to: authAdminRole, using: sql`true`, withCheck: sql`true` }),
    pgPolicy('organizations_select_member', { for: 'select', to: authenticatedRole, using: memberOf(sql`id`) }),
    pgPolicy('organizations_insert_own', {
      for: 'insert',
      to: authenticatedRole,
      withCheck: sql`created_by = (select auth.uid())`,
    }),
    pgPolicy('organizations_update_admin', {
      for: 'update',
      to: authenticatedRole,
      using: hasRole(sql`id`, 'owner,admin'),
      withCheck: hasRole(sql`id`, 'owner,admin'),
    }),
    pgPolicy('organizations_delete_owner', { for: 'delete', to: authenticatedRole, using: hasRole(sql`id`, 'owner') }),
  ],
);

export const memberships = pgTable(
  'memberships',
  {
    organizationId: uuid()
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text().$type<OrgRole>().notNull(),
    createdAt: timestamp({ withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.organizationId, t.userId] }),
    index('memberships_user_id_organization_id_idx').on(t.userId, t.organizationId),
    check('memberships_role', sql`${t.role} IN ('owner', 'admin', 'member')`),
    pgPolicy('memberships_all_by_auth', { for: 'all', to: authAdminRole, using: sql`true`, withCheck: sql`true` }),
    pgPolicy('memberships_select_member', {
      for: 'select',
      to: authenticatedRole,
      using: memberOf(sql`organization_id`),
    }),
    pgPolicy('memberships_insert_founder', {
      for: 'insert',
      to: authenticatedRole,
      withCheck: sql`user_id = (select auth.uid()) and role = 'owner' and (select auth.may_found_organization(organization_id))`,
    }),
    pgPolicy('memberships_update_admin', {
      for: 'update',
      to: authenticatedRole,
      using: ownerOrAdminOverNonOwner,
      withCheck: ownerOrAdminOverNonOwner,
    }),
    pgPolicy('memberships_delete', {
      for: 'delete',
      to: authenticatedRole,
      using: sql`user_id = (select auth.uid()) or ${ownerOrAdminOverNonOwner}`,
    }),
  ],
);

export const invitations = pgTable(
  'invitations',
  {
    id: uuid().primaryKey().defaultRandom(),
    organizationId: uuid()
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    email: text().notNull(),
    role: text().$type<OrgRole>().notNull(),
    // SHA-256 of the mailed secret; the request path's roles cannot select it.
    tokenHash: text().notNull(),
    invitedBy: uuid().references(() => users.id, { onDelete: 'set null' }),
    expiresAt: timestamp({ withTimezone: true, mode: 'string' }).notNull(),
    acceptedAt: timestamp({ withTimezone: true, mode: 'string' }),
    createdAt: timestamp({ withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('invitations_token_hash_key').on(t.tokenHash),
    index('invitations_invited_by_idx').on(t.invitedBy),
    index('invitations_organization_id_created_at_idx').on(t.organizationId, t.createdAt),
    check('invitations_role', sql`${t.role} IN ('owner', 'admin', 'member')`),
    check('invitations_email_lower', sql`${t.email} = lower(btrim(${t.email}))`),
    pgPolicy('invitations_all_by_auth', { for: 'all', to: authAdminRole, using: sql`true`, withCheck: sql`true` }),
    pgPolicy('invitations_select_admin', {
      for: 'select',
      to: authenticatedRole,
      using: hasRole(sql`organization_id`, 'owner,admin'),
    }),
    pgPolicy('invitations_insert_admin', {
      for: 'insert',
      to: authenticatedRole,
      withCheck: sql`invited_by = (select auth.uid()) and (${ownerOrAdminOverNonOwner})`,
    }),
    pgPolicy('invitations_delete_admin', {
      for: 'delete',
      to: authenticatedRole,
      using: hasRole(sql`organization_id`, 'owner,admin'),
    }),
  ],
);

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type MfaFactorRow = typeof mfaFactors.$inferSelect;
export type PasskeyRow = typeof passkeys.$inferSelect;
export type PasskeyChallengeRow = typeof passkeyChallenges.$inferSelect;
export type IdentityRow = typeof identities.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type ProfileRow = typeof profiles.$inferSelect;
export type AuditLogRow = typeof auditLog.$inferSelect;
export type OrganizationRow = typeof organizations.$inferSelect;
export type MembershipRow = typeof memberships.$inferSelect;
export type InvitationRow = typeof invitations.$inferSelect;
