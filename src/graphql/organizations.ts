import { randomUUID } from 'node:crypto';
import { AuthError, badInput, isUniqueViolation } from '../auth/errors.js';
import { checkText, normalizeEmail } from '../auth/validate.js';
import {
  acceptInvitation,
  deleteMember,
  deleteOrganization,
  type InvitationView,
  insertInvitation,
  insertOrganization,
  membersPage,
  ORG_ERRORS,
  type OrganizationView,
  openInvitations,
  organizationBy,
  organizationsOf,
  orgWrite,
  revokeInvitation,
  setActiveOrganization,
  setMemberRole,
  updateOrganization,
} from '../db/organizations.js';
import { type MembershipRow, ORG_ROLES, type OrgRole } from '../db/schema.js';
import { isUuid } from '../shared/ids.js';
import type { SignedInContext } from './builder.js';
import { builder } from './builder.js';
import { connectionType, keysetPage, pageArgs } from './connection.js';
import { Profile } from './profile.js';
import { User } from './user.js';

// Every read and write below goes through the request's transaction as the caller's role:
// the policies of public.organizations, memberships and invitations decide. The checks here
// only turn a refusal into a coded error; a policy stops the write even without them.

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$/;

const OrgRoleEnum = builder.enumType('OrganizationRole', {
  description: "A member's role: owners do everything, admins manage members and invitations, members read.",
  values: Object.fromEntries(ORG_ROLES.map((r) => [r.toUpperCase(), { value: r }])) as Record<
    'OWNER' | 'ADMIN' | 'MEMBER',
    { value: OrgRole }
  >,
});

const Membership = builder.objectRef<MembershipRow>('Membership').implement({
  fields: (t) => ({
    organizationId: t.exposeID('organizationId'),
    userId: t.exposeID('userId'),
    role: t.field({ type: OrgRoleEnum, resolve: (m) => m.role }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    profile: t.field({
      type: Profile,
      nullable: true,
      description: "The member's profile, when row level security lets the caller see it.",
      resolve: (m, _args, ctx) => ctx.loaders.profile.load(m.userId),
    }),
  }),
});

const MembershipConnection = connectionType('Membership', Membership);

const Invitation = builder.objectRef<InvitationView>('Invitation').implement({
  description: 'An invitation mailed to an address; its secret is never readable.',
  fields: (t) => ({
    id: t.exposeID('id'),
    organizationId: t.exposeID('organizationId'),
    email: t.exposeString('email'),
    role: t.field({ type: OrgRoleEnum, resolve: (i) => i.role }),
    invitedBy: t.exposeID('invitedBy', { nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const Organization = builder.objectRef<OrganizationView>('Organization').implement({
  description: 'A tenant. Members see it; row level security decides every field below.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    viewerRole: t.field({
      type: OrgRoleEnum,
      nullable: true,
      description: "The caller's role in it.",
      resolve: (o) => o.viewerRole,
    }),
    members: t.field({
      type: MembershipConnection,
      description: 'Members, newest first (visible to members).',
      args: pageArgs(t.arg),
      resolve: async (o, args, ctx) => {
        const sql = await ctx.tx.sql();
        return keysetPage(
          args,
          (first, after) => membersPage(sql, o.id, first, after),
          (row) => ({ key: { createdAt: row.createdAt, id: row.userId }, node: row }),
        );
      },
    }),
    invitations: t.field({
      type: [Invitation],
      description: 'Open invitations, newest first (visible to owners and admins; empty for members).',
      resolve: async (o, _args, ctx) => openInvitations(await ctx.tx.sql(), o.id),
    }),
  }),
});

builder.objectField(User, 'organizations', (t) =>
  t.field({
    type: [Organization],
    description: 'The organisations the user belongs to, oldest membership first.',
    resolve: async (user, _args, ctx) => organizationsOf(await ctx.tx.sql(), user.id),
  }),
);

builder.queryField('organization', (t) =>
  t.field({
    type: Organization,
    nullable: true,
    description: 'One organisation by id or by slug (exactly one), or null when the caller is not a member.',
    args: { id: t.arg.id(), slug: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const hasId = args.id !== null && args.id !== undefined;
      const hasSlug = args.slug !== null && args.slug !== undefined;
      if (hasId === hasSlug) throw badInput('Give exactly one of id and slug.');
      if (!ctx.viewer) return null;
      if (hasId)
        return isUuid(args.id) ? organizationBy(await ctx.tx.sql(), { id: String(args.id).toLowerCase() }) : null;
      const slug = String(args.slug);
      return SLUG.test(slug) ? organizationBy(await ctx.tx.sql(), { slug }) : null;
    },
  }),
);

const refused = (message = 'Your role in this organization does not allow this.'): AuthError =>
  new AuthError('FORBIDDEN', message, { reason: 'ORGANIZATION_ROLE_REQUIRED' });

function checkName(name: string): string {
  const trimmed = checkText(name, 'name').trim();
  if (trimmed.length < 1 || trimmed.length > 100) throw badInput('The name must have 1 to 100 characters.', 'name');
  return trimmed;
}

function checkSlug(slug: string): string {
  if (!SLUG.test(slug)) {
    throw badInput('The slug must be 1 to 48 lower-case letters, digits and inner hyphens.', 'slug');
  }
  return slug;
}

function checkId(id: string, field: string): string {
  if (!isUuid(id)) throw badInput(`${field} is not an id.`, field);
  return id.toLowerCase();
}

/** A write in the caller's transaction under a savepoint; database refusals become coded errors. */
async function write<T>(
  ctx: SignedInContext,
  fn: (sql: Awaited<ReturnType<SignedInContext['tx']['sql']>>) => Promise<T>,
) {
  const sql = await ctx.tx.sql();
  try {
    return await orgWrite(sql, ctx.client, () => fn(sql));
  } catch (err) {
    const e = (err as { cause?: unknown }).cause ?? err;
    const code = (e as { code?: string }).code;
    if (code === ORG_ERRORS.lastOwner) {
      throw new AuthError('FORBIDDEN', 'An organization keeps at least one owner.', { reason: 'LAST_OWNER' });
    }
    if (code === ORG_ERRORS.invitationInvalid) throw invitationInvalid();
    if (code === ORG_ERRORS.emailMismatch) {
      throw new AuthError('FORBIDDEN', 'The invitation is for another (confirmed) email address.', {
        reason: 'INVITATION_EMAIL_MISMATCH',
      });
    }
    if (isUniqueViolation(err, 'organizations_slug_key')) {
      throw new AuthError('BAD_USER_INPUT', 'This slug is taken.', { reason: 'SLUG_TAKEN', field: 'slug' });
    }
    // 42501: a row level security policy refused an INSERT (or a WITH CHECK).
    if (code === '42501') throw refused();
    throw err;
  }
}

const invitationInvalid = (): AuthError =>
  new AuthError('BAD_USER_INPUT', 'The invitation is invalid, expired, revoked or already used.', {
    reason: 'INVITATION_INVALID',
  });

async function reload(ctx: SignedInContext, id: string): Promise<OrganizationView> {
  const org = await organizationBy(await ctx.tx.sql(), { id });
  if (!org) throw refused();
  return org;
}

builder.mutationField('createOrganization', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: Organization,
    description: 'Creates an organisation; the caller becomes its owner.',
    args: { name: t.arg.string({ required: true }), slug: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const org = { id: randomUUID(), name: checkName(args.name), slug: checkSlug(args.slug) };
      await write(ctx, (sql) => insertOrganization(sql, org, ctx.viewer.id));
      return reload(ctx, org.id);
    },
  }),
);

builder.mutationField('updateOrganization', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: Organization,
    description: 'Renames an organisation or changes its slug (owners and admins); fields left out stay.',
    args: { id: t.arg.id({ required: true }), name: t.arg.string(), slug: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const id = checkId(args.id, 'id');
      const patch: { name?: string; slug?: string } = {};
      if (args.name !== null && args.name !== undefined) patch.name = checkName(args.name);
      if (args.slug !== null && args.slug !== undefined) patch.slug = checkSlug(args.slug);
      if (Object.keys(patch).length > 0 && !(await write(ctx, (sql) => updateOrganization(sql, id, patch)))) {
        throw refused();
      }
      return reload(ctx, id);
    },
  }),
);

builder.mutationField('deleteOrganization', (t) =>
  t.withAuth({ signedIn: true }).boolean({
    description: 'Deletes an organisation with its memberships and invitations (owners only).',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = checkId(args.id, 'id');
      if (!(await write(ctx, (sql) => deleteOrganization(sql, id)))) throw refused();
      return true;
    },
  }),
);

builder.mutationField('inviteMember', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: Invitation,
    description:
      'Mails an invitation link to `email` (owners, and admins for roles below owner). The link works once, for ' +
      'a signed-in user whose confirmed address is `email`, until it expires (7 days) or is revoked.',
    args: {
      organizationId: t.arg.id({ required: true }),
      email: t.arg.string({ required: true }),
      role: t.arg({ type: OrgRoleEnum, required: true }),
    },
    resolve: async (_root, args, ctx) => {
      const organizationId = checkId(args.organizationId, 'organizationId');
      const email = normalizeEmail(args.email);
      await ctx.organizations.limitInvitation(email, ctx.client);
      const { token, tokenHash } = ctx.organizations.invitationSecret();
      const invitation = await write(ctx, (sql) =>
        insertInvitation(
          sql,
          { id: randomUUID(), organizationId, email, role: args.role, tokenHash, invitedBy: ctx.viewer.id },
          ctx.organizations.invitationTtlS,
        ),
      );
      ctx.organizations.mailInvitation(email, token);
      return invitation;
    },
  }),
);

builder.mutationField('acceptInvitation', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: Organization,
    description: "Joins the invitation's organisation; the caller's confirmed email must be the invited address.",
    args: { token: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const hash = ctx.organizations.invitationHash(args.token);
      if (!hash) throw invitationInvalid();
      const org = await write(ctx, (sql) => acceptInvitation(sql, hash));
      return reload(ctx, org);
    },
  }),
);

builder.mutationField('revokeInvitation', (t) =>
  t.withAuth({ signedIn: true }).boolean({
    description: 'Deletes an open invitation, so its link no longer works (owners and admins).',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = checkId(args.id, 'id');
      if (!(await write(ctx, (sql) => revokeInvitation(sql, id)))) throw invitationInvalid();
      return true;
    },
  }),
);

builder.mutationField('changeMemberRole', (t) =>
  t.withAuth({ signedIn: true }).field({
    type: Membership,
    description: "Changes a member's role: owners any, admins only between admin and member. The last owner stays.",
    args: {
      organizationId: t.arg.id({ required: true }),
      userId: t.arg.id({ required: true }),
      role: t.arg({ type: OrgRoleEnum, required: true }),
    },
    resolve: async (_root, args, ctx) => {
      const org = checkId(args.organizationId, 'organizationId');
      const user = checkId(args.userId, 'userId');
      const row = await write(ctx, (sql) => setMemberRole(sql, org, user, args.role));
      if (!row) throw refused();
      return row;
    },
  }),
);

builder.mutationField('removeMember', (t) =>
  t.withAuth({ signedIn: true }).boolean({
    description: 'Removes a member (owners any, admins non-owners); access ends on their next request.',
    args: { organizationId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const org = checkId(args.organizationId, 'organizationId');
      const user = checkId(args.userId, 'userId');
      if (!(await write(ctx, (sql) => deleteMember(sql, org, user)))) throw refused();
      return true;
    },
  }),
);

builder.mutationField('leaveOrganization', (t) =>
  t.withAuth({ signedIn: true }).boolean({
    description: 'Leaves an organisation; the last owner cannot.',
    args: { organizationId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const org = checkId(args.organizationId, 'organizationId');
      if (!(await write(ctx, (sql) => deleteMember(sql, org, ctx.viewer.id)))) throw refused();
      return true;
    },
  }),
);

builder.mutationField('setActiveOrganization', (t) =>
  t.withAuth({ nativeSession: true }).boolean({
    description:
      "Remembers an organisation (or, with null, none) for the caller's session: access tokens minted from now on " +
      '(refresh) carry it as the claim `org_id` while the caller is a member. For clients only: policies check ' +
      'membership with auth.is_member, never this claim.',
    args: { organizationId: t.arg.id() },
    resolve: async (_root, args, ctx) => {
      const org =
        args.organizationId === null || args.organizationId === undefined
          ? null
          : checkId(args.organizationId, 'organizationId');
      if (!(await setActiveOrganization(await ctx.tx.sql(), org))) throw refused();
      return true;
    },
  }),
);
