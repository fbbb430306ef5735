import { decodeJwt } from 'jose';
import * as OTPAuth from 'otpauth';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linksIn, type MailCatcher, startMailCatcher } from '../../src/mail/catcher.js';
import {
  codeOf,
  email,
  type GqlResponse,
  inTx,
  loginConnections,
  REFRESH,
  type Session,
  signUp,
  startGateway,
  type TestGateway,
} from '../helpers.js';

/**
 * Organisations end to end: a real gateway, real mail to a catcher, and an app table whose
 * policy uses auth.is_member, read with a member's unchanged access token.
 */

const LINK_URL = 'http://app.example.test/auth/callback';
let catcher: MailCatcher;
let t: TestGateway;
const logins = loginConnections();
let login: postgres.Sql;

beforeAll(async () => {
  catcher = await startMailCatcher();
  // Mail limits on (the test helper turns them off): 5 mails per address and client.
  t = await startGateway({
    SMTP_URL: catcher.url,
    MAIL_LINK_URL: LINK_URL,
    RATE_LIMIT_EMAIL_MAX: '5',
    RATE_LIMIT_EMAIL_CEILING: '20',
  });
  login = await logins.open(t);
  // An app's own org-scoped table, as docs/organizations.md shows it.
  await t.admin.unsafe(`
    create table public.projects (id uuid primary key default gen_random_uuid(), org_id uuid not null
      references public.organizations(id) on delete cascade, name text not null);
    create index projects_org_id_idx on public.projects (org_id);
    alter table public.projects enable row level security;
    alter table public.projects force row level security;
    grant select, insert on public.projects to authenticated;
    create policy projects_member on public.projects for select to authenticated using ((select auth.is_member(org_id)));
    create policy projects_admin_insert on public.projects for insert to authenticated
      with check ((select auth.has_org_role(org_id, '{owner,admin}')));`);
});
afterAll(async () => {
  await logins.end();
  await t?.close();
  await catcher?.close();
});

const ORG = 'id name slug viewerRole';
const CREATE = `mutation C($name: String!, $slug: String!) { createOrganization(name: $name, slug: $slug) { ${ORG} } }`;
const UPDATE = `mutation U($id: ID!, $name: String, $slug: String) { updateOrganization(id: $id, name: $name, slug: $slug) { ${ORG} } }`;
const DELETE = 'mutation D($id: ID!) { deleteOrganization(id: $id) }';
const INVITE = `mutation I($org: ID!, $email: String!, $role: OrganizationRole!) {
  inviteMember(organizationId: $org, email: $email, role: $role) { id email role expiresAt } }`;
const ACCEPT = `mutation A($token: String!) { acceptInvitation(token: $token) { ${ORG} } }`;
const REVOKE = 'mutation R($id: ID!) { revokeInvitation(id: $id) }';
const CHANGE = `mutation Ch($org: ID!, $user: ID!, $role: OrganizationRole!) {
  changeMemberRole(organizationId: $org, userId: $user, role: $role) { userId role } }`;
const REMOVE = 'mutation Rm($org: ID!, $user: ID!) { removeMember(organizationId: $org, userId: $user) }';
const LEAVE = 'mutation L($org: ID!) { leaveOrganization(organizationId: $org) }';
const GET = `query G($id: ID, $slug: String) { organization(id: $id, slug: $slug) {
  ${ORG} members(first: 10) { edges { node { userId role } } pageInfo { hasNextPage } } invitations { id email role } } }`;
const SET_ACTIVE = 'mutation S($org: ID) { setActiveOrganization(organizationId: $org) }';
const MINE = `query { me { organizations { ${ORG} } } }`;

const reasonOf = (res: GqlResponse): unknown => res.errors?.[0]?.extensions?.reason;
let n = 0;
const slug = () => `org-${Date.now().toString(36)}-${n++}`;

/** A user whose address is confirmed (proven), as acceptInvitation requires. */
async function confirmedUser(tag = 'member'): Promise<Session> {
  const s = await signUp(t, undefined, email(tag));
  await t.admin`update auth.users set email_confirmed_at = now() where id = ${s.userId}`;
  return s;
}

async function createOrg(owner: Session): Promise<string> {
  const res = await t.gql(CREATE, { name: 'Acme', slug: slug() }, owner.accessToken);
  expect(res.errors).toBeUndefined();
  expect(res.data!.createOrganization.viewerRole).toBe('OWNER');
  return res.data!.createOrganization.id;
}

/** Invites `to` and returns the token read from the mail the catcher caught. */
async function invite(
  owner: Session,
  org: string,
  to: string,
  role = 'MEMBER',
): Promise<{ id: string; token: string }> {
  const res = await t.gql(INVITE, { org, email: to, role }, owner.accessToken);
  expect(res.errors).toBeUndefined();
  const mail = await catcher.waitFor((m) => m.to.includes(to));
  const link = linksIn(mail).find((l) => l.startsWith(`${LINK_URL}?`));
  const url = new URL(link!);
  expect(url.searchParams.get('type')).toBe('invitation');
  return { id: res.data!.inviteMember.id, token: url.searchParams.get('token')! };
}

async function join(owner: Session, org: string, role = 'MEMBER'): Promise<Session> {
  const member = await confirmedUser();
  const { token } = await invite(owner, org, member.email, role);
  const res = await t.gql(ACCEPT, { token }, member.accessToken);
  expect(res.errors).toBeUndefined();
  return member;
}

/** The app table as the request path reads it with `s`'s access token: its claims, its role. */
async function projectsSeenBy(s: Session): Promise<string[]> {
  return inTx(
    login,
    (q) => q`select set_config('request.jwt.claims', ${JSON.stringify(decodeJwt(s.accessToken))}, true),
      set_config('role', 'authenticated', true)`,
    async (q) => (await q<{ name: string }[]>`select name from public.projects order by name`).map((r) => r.name),
  );
}

describe('organisations', () => {
  it('removing a member stops their access on the very next request, with the same access token', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    await t.admin`insert into public.projects (org_id, name) values (${org}, 'roadmap')`;
    const member = await join(owner, org);
    const token = member.accessToken;

    expect(await projectsSeenBy(member)).toEqual(['roadmap']);
    const before = await t.gql(GET, { id: org }, token);
    expect(before.data!.organization.viewerRole).toBe('MEMBER');

    const removed = await t.gql(REMOVE, { org, user: member.userId }, owner.accessToken);
    expect(removed.data?.removeMember).toBe(true);

    // Same token, no refresh: the helpers read memberships now.
    expect(decodeJwt(token)).toEqual(decodeJwt(member.accessToken));
    expect(await projectsSeenBy(member)).toEqual([]);
    const after = await t.gql(GET, { id: org }, token);
    expect(after.errors).toBeUndefined();
    expect(after.data!.organization).toBeNull();
    expect((await t.gql(MINE, {}, token)).data!.me.organizations).toEqual([]);
    expect(await projectsSeenBy(owner)).toEqual(['roadmap']);
  });

  it('creates, lists, reads by slug, updates and deletes; only the right roles may', async () => {
    const owner = await confirmedUser('owner');
    const s = slug();
    const created = await t.gql(CREATE, { name: 'Blue', slug: s }, owner.accessToken);
    const org = created.data!.createOrganization.id;
    expect((await t.gql(MINE, {}, owner.accessToken)).data!.me.organizations.map((o: { id: string }) => o.id)).toEqual([
      org,
    ]);
    const bySlug = await t.gql(GET, { slug: s }, owner.accessToken);
    expect(bySlug.data!.organization.members.edges).toEqual([{ node: { userId: owner.userId, role: 'OWNER' } }]);

    const taken = await t.gql(CREATE, { name: 'Other', slug: s }, owner.accessToken);
    expect([codeOf(taken), reasonOf(taken)]).toEqual(['BAD_USER_INPUT', 'SLUG_TAKEN']);
    const bad = await t.gql(CREATE, { name: 'Other', slug: 'Not A Slug' }, owner.accessToken);
    expect(codeOf(bad)).toBe('BAD_USER_INPUT');

    const member = await join(owner, org);
    const admin = await join(owner, org, 'ADMIN');
    const byMember = await t.gql(UPDATE, { id: org, name: 'Mine now' }, member.accessToken);
    expect([codeOf(byMember), reasonOf(byMember)]).toEqual(['FORBIDDEN', 'ORGANIZATION_ROLE_REQUIRED']);
    const byAdmin = await t.gql(UPDATE, { id: org, name: 'Renamed' }, admin.accessToken);
    expect(byAdmin.data!.updateOrganization.name).toBe('Renamed');
    const adminDeletes = await t.gql(DELETE, { id: org }, admin.accessToken);
    expect(codeOf(adminDeletes)).toBe('FORBIDDEN');

    const stranger = await confirmedUser('stranger');
    expect((await t.gql(GET, { id: org }, stranger.accessToken)).data!.organization).toBeNull();
    expect(codeOf(await t.gql(DELETE, { id: org }, stranger.accessToken))).toBe('FORBIDDEN');

    expect((await t.gql(DELETE, { id: org }, owner.accessToken)).data!.deleteOrganization).toBe(true);
    expect((await t.gql(GET, { id: org }, owner.accessToken)).data!.organization).toBeNull();
    const events = await t.admin<{ event: string; actor_id: string; ip: string | null }[]>`
      select event, actor_id, ip from auth.audit_log where detail ->> 'organizationId' = ${org} order by created_at, id`;
    // Written by the trigger in the change's transaction, with the request's actor and address.
    expect(events[0]).toEqual({ event: 'organization.created', actor_id: owner.userId, ip: '127.0.0.1' });
    expect(events.map((e) => e.event)).toEqual(
      expect.arrayContaining([
        'organization.created',
        'organization.member_added',
        'organization.updated',
        'organization.deleted',
      ]),
    );
  });

  it('pages members newest first with a cursor', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    const a = await join(owner, org);
    const b = await join(owner, org, 'ADMIN');
    const PAGE = `query P($id: ID!, $after: String) { organization(id: $id) {
      members(first: 2, after: $after) { edges { node { userId role } } pageInfo { hasNextPage endCursor } } } }`;
    const first = (await t.gql(PAGE, { id: org }, a.accessToken)).data!.organization.members;
    expect(first.edges.map((e: { node: { userId: string } }) => e.node.userId)).toEqual([b.userId, a.userId]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const next = (await t.gql(PAGE, { id: org, after: first.pageInfo.endCursor }, a.accessToken)).data!.organization
      .members;
    expect(next.edges).toEqual([{ node: { userId: owner.userId, role: 'OWNER' } }]);
    expect(next.pageInfo.hasNextPage).toBe(false);
  });

  it('a non-member cannot read members or invitations, even straight from the tables', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    await invite(owner, org, email('invited'));
    const member = await join(owner, org);
    const stranger = await confirmedUser('stranger');
    const read = (s: Session) =>
      inTx(
        login,
        (q) => q`select set_config('request.jwt.claims', ${JSON.stringify(decodeJwt(s.accessToken))}, true),
          set_config('role', 'authenticated', true)`,
        async (q) => ({
          members: (await q`select user_id from public.memberships where organization_id = ${org}`).length,
          invitations: (await q`select id from public.invitations where organization_id = ${org}`).length,
        }),
      );
    expect(await read(stranger)).toEqual({ members: 0, invitations: 0 });
    // A member sees the members, but invitations are for owners and admins.
    expect(await read(member)).toEqual({ members: 2, invitations: 0 });
    // The open one and the accepted one of the member.
    expect(await read(owner)).toEqual({ members: 2, invitations: 2 });
    const asMember = await t.gql(GET, { id: org }, member.accessToken);
    expect(asMember.data!.organization.invitations).toEqual([]);
    // The secret's hash is not readable even by an owner.
    const hash = await inTx(
      login,
      (q) => q`select set_config('request.jwt.claims', ${JSON.stringify(decodeJwt(owner.accessToken))}, true),
        set_config('role', 'authenticated', true)`,
      (q) =>
        q`select token_hash from public.invitations`.then(
          () => 'read',
          (e: { code?: string }) => e.code,
        ),
    );
    expect(hash).toBe('42501');
  });

  it('a member cannot change roles, add themselves, or remove others; a policy stops a direct write too', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    const member = await join(owner, org);
    const other = await join(owner, org);
    const promote = await t.gql(CHANGE, { org, user: member.userId, role: 'OWNER' }, member.accessToken);
    expect([codeOf(promote), reasonOf(promote)]).toEqual(['FORBIDDEN', 'ORGANIZATION_ROLE_REQUIRED']);
    expect(codeOf(await t.gql(REMOVE, { org, user: other.userId }, member.accessToken))).toBe('FORBIDDEN');
    // As if a resolver forgot every check: the request path's own SQL.
    const direct = await inTx(
      login,
      (q) => q`select set_config('request.jwt.claims', ${JSON.stringify(decodeJwt(member.accessToken))}, true),
        set_config('role', 'authenticated', true)`,
      async (q) => {
        const updated =
          await q`update public.memberships set role = 'owner' where organization_id = ${org} returning 1`;
        const deleted =
          await q`delete from public.memberships where organization_id = ${org} and user_id <> ${member.userId} returning 1`;
        const inserted = await q`insert into public.memberships (organization_id, user_id, role)
          values (${org}, ${member.userId}, 'owner')`.then(
          () => 'inserted',
          (e: { code?: string }) => e.code,
        );
        return { updated: updated.length, deleted: deleted.length, inserted };
      },
    );
    expect(direct).toEqual({ updated: 0, deleted: 0, inserted: '42501' });
    const roles = await t.admin<
      { role: string }[]
    >`select role from public.memberships where organization_id = ${org} order by role`;
    expect(roles.map((r) => r.role)).toEqual(['member', 'member', 'owner']);
  });

  it('an admin manages members but cannot touch or make owners', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    const admin = await join(owner, org, 'ADMIN');
    const member = await join(owner, org);
    expect(
      (await t.gql(CHANGE, { org, user: member.userId, role: 'ADMIN' }, admin.accessToken)).data!.changeMemberRole.role,
    ).toBe('ADMIN');
    expect(codeOf(await t.gql(CHANGE, { org, user: member.userId, role: 'OWNER' }, admin.accessToken))).toBe(
      'FORBIDDEN',
    );
    expect(codeOf(await t.gql(CHANGE, { org, user: owner.userId, role: 'MEMBER' }, admin.accessToken))).toBe(
      'FORBIDDEN',
    );
    expect(codeOf(await t.gql(REMOVE, { org, user: owner.userId }, admin.accessToken))).toBe('FORBIDDEN');
    expect(codeOf(await t.gql(INVITE, { org, email: email('x'), role: 'OWNER' }, admin.accessToken))).toBe('FORBIDDEN');
  });

  it('the last owner cannot leave, be demoted or be removed; with a second owner they can', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    const leave = await t.gql(LEAVE, { org }, owner.accessToken);
    expect([codeOf(leave), reasonOf(leave)]).toEqual(['FORBIDDEN', 'LAST_OWNER']);
    const demote = await t.gql(CHANGE, { org, user: owner.userId, role: 'ADMIN' }, owner.accessToken);
    expect(reasonOf(demote)).toBe('LAST_OWNER');
    const remove = await t.gql(REMOVE, { org, user: owner.userId }, owner.accessToken);
    expect(reasonOf(remove)).toBe('LAST_OWNER');
    // The refused write left the request's transaction usable and the row in place.
    expect((await t.gql(GET, { id: org }, owner.accessToken)).data!.organization.viewerRole).toBe('OWNER');

    const second = await join(owner, org, 'OWNER');
    expect((await t.gql(LEAVE, { org }, owner.accessToken)).data!.leaveOrganization).toBe(true);
    expect(reasonOf(await t.gql(LEAVE, { org }, second.accessToken))).toBe('LAST_OWNER');
    const member = await join(second, org);
    expect((await t.gql(LEAVE, { org }, member.accessToken)).data!.leaveOrganization).toBe(true);
  });

  it('setActiveOrganization: refreshed tokens carry org_id while a member; the helpers never trust it', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    const member = await join(owner, org);
    const stranger = await confirmedUser('stranger');
    const refused = await t.gql(SET_ACTIVE, { org }, stranger.accessToken);
    expect([codeOf(refused), reasonOf(refused)]).toEqual(['FORBIDDEN', 'ORGANIZATION_ROLE_REQUIRED']);

    expect((await t.gql(SET_ACTIVE, { org }, member.accessToken)).data!.setActiveOrganization).toBe(true);
    // The token in hand is unchanged; the next one minted carries the claim.
    expect(decodeJwt(member.accessToken).org_id).toBeUndefined();
    const refreshed = await t.gql(REFRESH, { token: member.refreshToken });
    const withOrg = { ...member, ...refreshed.data!.refresh } as Session;
    expect(decodeJwt(withOrg.accessToken).org_id).toBe(org);

    // Removed: the claim still says org_id, the helpers say no; the next token drops it.
    await t.gql(REMOVE, { org, user: member.userId }, owner.accessToken);
    await t.admin`insert into public.projects (org_id, name) values (${org}, 'secret plan')`;
    expect(await projectsSeenBy(withOrg)).toEqual([]);
    const again = await t.gql(REFRESH, { token: withOrg.refreshToken });
    expect(decodeJwt(again.data!.refresh.accessToken).org_id).toBeUndefined();

    // Cleared with null.
    expect((await t.gql(SET_ACTIVE, { org: null }, owner.accessToken)).data!.setActiveOrganization).toBe(true);
  });

  it('invitations to one address are rate-limited like every other mail to it', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    const target = email('bombed');
    const codes: unknown[] = [];
    for (let i = 0; i < 6; i++)
      codes.push(codeOf(await t.gql(INVITE, { org, email: target, role: 'MEMBER' }, owner.accessToken)));
    expect(codes).toEqual([undefined, undefined, undefined, undefined, undefined, 'RATE_LIMITED']);
    const [row] = await t.admin<
      { n: number }[]
    >`select count(*)::int as n from public.invitations where email = ${target}`;
    expect(row!.n).toBe(5);
  });

  it('the active organisation carries over to the aal2 token when the session passes its second factor', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);
    expect((await t.gql(SET_ACTIVE, { org }, owner.accessToken)).data!.setActiveOrganization).toBe(true);
    const factor = (await t.gql('mutation { mfaEnroll { factorId secret } }', {}, owner.accessToken)).data!.mfaEnroll;
    const code = new OTPAuth.TOTP({
      secret: OTPAuth.Secret.fromBase32(factor.secret),
      digits: 6,
      period: 30,
    }).generate();
    const activated = await t.gql(
      `mutation A($id: ID!, $code: String!) { mfaActivate(factorId: $id, code: $code) { session { accessToken } } }`,
      { id: factor.factorId, code },
      owner.accessToken,
    );
    const claims = decodeJwt(activated.data!.mfaActivate.session.accessToken);
    expect([claims.aal, claims.org_id]).toEqual(['aal2', org]);
  });

  it('an invitation works once, not after expiry or revocation, only for its confirmed address', async () => {
    const owner = await confirmedUser('owner');
    const org = await createOrg(owner);

    const invited = await confirmedUser('invited');
    const once = await invite(owner, org, invited.email);
    const other = await confirmedUser('other');
    const wrong = await t.gql(ACCEPT, { token: once.token }, other.accessToken);
    expect([codeOf(wrong), reasonOf(wrong)]).toEqual(['FORBIDDEN', 'INVITATION_EMAIL_MISMATCH']);
    expect((await t.gql(ACCEPT, { token: once.token }, invited.accessToken)).data!.acceptInvitation.viewerRole).toBe(
      'MEMBER',
    );
    const twice = await t.gql(ACCEPT, { token: once.token }, invited.accessToken);
    expect([codeOf(twice), reasonOf(twice)]).toEqual(['BAD_USER_INPUT', 'INVITATION_INVALID']);

    // Unconfirmed: the account holds the address, but nobody proved it.
    const unconfirmed = await signUp(t, undefined, email('unconfirmed'));
    await t.admin`update auth.users set email_confirmed_at = null where id = ${unconfirmed.userId}`;
    const forUnconfirmed = await invite(owner, org, unconfirmed.email);
    expect(reasonOf(await t.gql(ACCEPT, { token: forUnconfirmed.token }, unconfirmed.accessToken))).toBe(
      'INVITATION_EMAIL_MISMATCH',
    );

    const late = await confirmedUser('late');
    const expired = await invite(owner, org, late.email);
    await t.admin`update public.invitations set expires_at = now() - interval '1 second' where id = ${expired.id}`;
    expect(reasonOf(await t.gql(ACCEPT, { token: expired.token }, late.accessToken))).toBe('INVITATION_INVALID');

    const revokedFor = await confirmedUser('revoked');
    const revoked = await invite(owner, org, revokedFor.email);
    expect((await t.gql(REVOKE, { id: revoked.id }, owner.accessToken)).data!.revokeInvitation).toBe(true);
    expect(reasonOf(await t.gql(ACCEPT, { token: revoked.token }, revokedFor.accessToken))).toBe('INVITATION_INVALID');
    expect(reasonOf(await t.gql(ACCEPT, { token: 'x'.repeat(43) }, revokedFor.accessToken))).toBe('INVITATION_INVALID');

    const members = await t.admin<
      { user_id: string }[]
    >`select user_id from public.memberships where organization_id = ${org}`;
    expect(members.map((m) => m.user_id).sort()).toEqual([owner.userId, invited.userId].sort());
    // No secret in the table: only its SHA-256.
    const [row] = await t.admin<
      { token_hash: string }[]
    >`select token_hash from public.invitations where id = ${once.id}`;
    expect(row!.token_hash).not.toContain(once.token);
    expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });
});
