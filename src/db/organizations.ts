import type postgres from 'postgres';
import type { Keyset, Page } from './profiles.js';
import type { InvitationRow, MembershipRow, OrganizationRow, OrgRole } from './schema.js';

// Every statement here runs in the request's transaction as the caller's role: the policies
// of drizzle/0021_organizations.sql decide what it sees and changes, not this code.

const ORG_O = `o.id, o.name, o.slug, o.created_by as "createdBy", o.created_at::text as "createdAt"`;
const MEMBER = `organization_id as "organizationId", user_id as "userId", role, created_at::text as "createdAt"`;
const INVITATION = `id, organization_id as "organizationId", email, role, invited_by as "invitedBy",
  expires_at::text as "expiresAt", accepted_at::text as "acceptedAt", created_at::text as "createdAt"`;

/** An organisation and the caller's role in it. */
export type OrganizationView = OrganizationRow & { viewerRole: OrgRole | null };
export type InvitationView = Omit<InvitationRow, 'tokenHash'>;

/** SQLSTATEs the organisation functions and triggers raise (drizzle/0021_organizations.sql). */
export const ORG_ERRORS = { lastOwner: 'AG409', invitationInvalid: 'AG410', emailMismatch: 'AG403' } as const;

/**
 * `fn` under a savepoint, with the client's address and agent set for the audit trigger:
 * a refused statement (a policy, the last-owner trigger, a taken slug) undoes only itself
 * and leaves the request's transaction usable; the error is rethrown.
 */
export async function orgWrite<T>(
  sql: postgres.ReservedSql,
  client: { ip: string | null; userAgent: string | null },
  fn: () => Promise<T>,
): Promise<T> {
  await sql`savepoint org_write`;
  try {
    await sql`select set_config('authgate.client_ip', ${client.ip ?? ''}, true),
      set_config('authgate.user_agent', ${client.userAgent ?? ''}, true)`;
    const result = await fn();
    await sql`release savepoint org_write`;
    return result;
  } catch (err) {
    await sql`rollback to savepoint org_write`.catch(() => {});
    throw err;
  }
}

/** The visible organisation with id `id` (or slug `slug`), with the caller's role. */
export async function organizationBy(
  sql: postgres.Sql,
  key: { id: string } | { slug: string },
): Promise<OrganizationView | null> {
  const where = 'id' in key ? sql`o.id = ${key.id}` : sql`o.slug = ${key.slug}`;
  const [row] = await sql<OrganizationView[]>`
    select ${sql.unsafe(ORG_O)},
      (select m.role from public.memberships m where m.organization_id = o.id and m.user_id = (select auth.uid())) as "viewerRole"
    from public.organizations o where ${where}`;
  return row ?? null;
}

/** The organisations `userId` belongs to (RLS: the caller's own), oldest membership first. */
export async function organizationsOf(sql: postgres.Sql, userId: string): Promise<OrganizationView[]> {
  return sql<OrganizationView[]>`
    select ${sql.unsafe(ORG_O)}, m.role as "viewerRole"
    from public.memberships m join public.organizations o on o.id = m.organization_id
    where m.user_id = ${userId} order by m.created_at, o.id`;
}

/** Members of `org`, newest first, keyset (created_at, user_id); RLS: members only. */
export async function membersPage(
  sql: postgres.Sql,
  org: string,
  first: number,
  after: Keyset | null,
): Promise<Page<MembershipRow>> {
  const rows = await sql<MembershipRow[]>`
    select ${sql.unsafe(MEMBER)} from public.memberships
    where organization_id = ${org}
      ${after ? sql`and (created_at, user_id) < (${after.createdAt}::text::timestamptz, ${after.id}::uuid)` : sql``}
    order by created_at desc, user_id desc limit ${first + 1}`;
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

/** Open (not accepted) invitations of `org`, newest first; RLS: owners and admins only. */
export async function openInvitations(sql: postgres.Sql, org: string): Promise<InvitationView[]> {
  return sql<InvitationView[]>`
    select ${sql.unsafe(INVITATION)} from public.invitations
    where organization_id = ${org} and accepted_at is null order by created_at desc limit 100`;
}

export async function insertOrganization(
  sql: postgres.Sql,
  org: { id: string; name: string; slug: string },
  owner: string,
): Promise<void> {
  // No RETURNING: the row is visible to its creator only once the membership exists.
  await sql`insert into public.organizations (id, name, slug, created_by) values (${org.id}, ${org.name}, ${org.slug}, ${owner})`;
  await sql`insert into public.memberships (organization_id, user_id, role) values (${org.id}, ${owner}, 'owner')`;
}

/** Sets name and/or slug; false when no row changed (a policy refused it, or none visible). */
export async function updateOrganization(
  sql: postgres.Sql,
  id: string,
  patch: { name?: string; slug?: string },
): Promise<boolean> {
  const rows = await sql`update public.organizations set ${sql(patch)} where id = ${id} returning id`;
  return rows.length > 0;
}

export async function deleteOrganization(sql: postgres.Sql, id: string): Promise<boolean> {
  return (await sql`delete from public.organizations where id = ${id} returning id`).length > 0;
}

export async function insertInvitation(
  sql: postgres.Sql,
  inv: { id: string; organizationId: string; email: string; role: OrgRole; tokenHash: string; invitedBy: string },
  ttlS: number,
): Promise<InvitationView> {
  const [row] = await sql<InvitationView[]>`
    insert into public.invitations (id, organization_id, email, role, token_hash, invited_by, expires_at)
    values (${inv.id}, ${inv.organizationId}, ${inv.email}, ${inv.role}, ${inv.tokenHash}, ${inv.invitedBy},
      now() + make_interval(secs => ${ttlS}))
    returning ${sql.unsafe(INVITATION)}`;
  return row!;
}

/** Uses an invitation's secret (auth.accept_invitation); the organisation's id. */
export async function acceptInvitation(sql: postgres.Sql, tokenHash: string): Promise<string> {
  const [row] = await sql<{ org: string }[]>`select auth.accept_invitation(${tokenHash}) as org`;
  return row!.org;
}

/** Deletes an open invitation; false when none was visible to delete. */
export async function revokeInvitation(sql: postgres.Sql, id: string): Promise<boolean> {
  return (await sql`delete from public.invitations where id = ${id} and accepted_at is null returning id`).length > 0;
}

export async function setMemberRole(
  sql: postgres.Sql,
  org: string,
  user: string,
  role: OrgRole,
): Promise<MembershipRow | null> {
  const [row] = await sql<MembershipRow[]>`
    update public.memberships set role = ${role} where organization_id = ${org} and user_id = ${user}
    returning ${sql.unsafe(MEMBER)}`;
  return row ?? null;
}

export async function deleteMember(sql: postgres.Sql, org: string, user: string): Promise<boolean> {
  return (
    (await sql`delete from public.memberships where organization_id = ${org} and user_id = ${user} returning user_id`)
      .length > 0
  );
}

/** Sets or clears the caller's session's active organisation; false when not a member (or no session). */
export async function setActiveOrganization(sql: postgres.Sql, org: string | null): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`select auth.set_active_organization(${org}::uuid) as ok`;
  return row!.ok;
}
