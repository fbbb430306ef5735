-- Organisations live in schema public beside profiles: they are app-facing data that an
-- app's own policies join to, and the request path's roles reach them under RLS. Schema
-- auth stays closed to anon and authenticated.
CREATE TABLE "organizations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"slug" text NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "organizations_slug_format" CHECK ("organizations"."slug" ~ '^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$'),
	CONSTRAINT "organizations_name_length" CHECK (char_length("organizations"."name") BETWEEN 1 AND 100)
);
--> statement-breakpoint
CREATE TABLE "memberships" (
	"organization_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"role" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "memberships_organization_id_user_id_pk" PRIMARY KEY("organization_id","user_id"),
	CONSTRAINT "memberships_role" CHECK ("memberships"."role" IN ('owner', 'admin', 'member'))
);
--> statement-breakpoint
CREATE TABLE "invitations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organization_id" uuid NOT NULL,
	"email" text NOT NULL,
	"role" text NOT NULL,
	"token_hash" text NOT NULL,
	"invited_by" uuid,
	"expires_at" timestamp with time zone NOT NULL,
	"accepted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "invitations_role" CHECK ("invitations"."role" IN ('owner', 'admin', 'member')),
	CONSTRAINT "invitations_email_lower" CHECK ("invitations"."email" = lower(btrim("invitations"."email")))
);
--> statement-breakpoint
ALTER TABLE "organizations" ADD CONSTRAINT "organizations_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "auth"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_organization_id_organizations_id_fk" FOREIGN KEY ("organization_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "auth"."users"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "invitations" ADD CONSTRAINT "invitations_organization_id_organizations_id_fk" FOREIGN KEY ("organization_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE "invitations" ADD CONSTRAINT "invitations_invited_by_users_id_fk" FOREIGN KEY ("invited_by") REFERENCES "auth"."users"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
CREATE UNIQUE INDEX "organizations_slug_key" ON "organizations" USING btree ("slug");
--> statement-breakpoint
-- auth.is_member and auth.has_org_role look a caller up by (organization_id, user_id), the
-- primary key; "my organisations" reads by user first.
CREATE INDEX "memberships_user_id_organization_id_idx" ON "memberships" USING btree ("user_id","organization_id");
--> statement-breakpoint
-- The columns the insert policies compare with auth.uid(), and foreign keys to auth.users
-- that a user's deletion sets null: indexed, so neither scans the table.
CREATE INDEX "organizations_created_by_idx" ON "organizations" USING btree ("created_by");
--> statement-breakpoint
CREATE INDEX "invitations_invited_by_idx" ON "invitations" USING btree ("invited_by");
--> statement-breakpoint
CREATE UNIQUE INDEX "invitations_token_hash_key" ON "invitations" USING btree ("token_hash");
--> statement-breakpoint
CREATE INDEX "invitations_organization_id_created_at_idx" ON "invitations" USING btree ("organization_id","created_at");
--> statement-breakpoint
ALTER TABLE "organizations" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "organizations" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "memberships" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "memberships" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "invitations" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "invitations" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
REVOKE ALL ON "organizations", "memberships", "invitations" FROM PUBLIC;
--> statement-breakpoint
-- The helpers, the last-owner guard, invitation acceptance and the audit trigger run as
-- authgate_auth (they are owned by it, below); it sees every row through its own policies.
GRANT SELECT, INSERT, UPDATE, DELETE ON "organizations", "memberships", "invitations" TO authgate_auth;
--> statement-breakpoint
GRANT SELECT, DELETE ON "organizations" TO authenticated;
--> statement-breakpoint
GRANT INSERT ("id", "name", "slug", "created_by") ON "organizations" TO authenticated;
--> statement-breakpoint
GRANT UPDATE ("name", "slug") ON "organizations" TO authenticated;
--> statement-breakpoint
GRANT SELECT, DELETE ON "memberships" TO authenticated;
--> statement-breakpoint
GRANT INSERT ("organization_id", "user_id", "role") ON "memberships" TO authenticated;
--> statement-breakpoint
GRANT UPDATE ("role") ON "memberships" TO authenticated;
--> statement-breakpoint
-- Never token_hash: not even an owner reads the secret back.
GRANT SELECT ("id", "organization_id", "email", "role", "invited_by", "expires_at", "accepted_at", "created_at") ON "invitations" TO authenticated;
--> statement-breakpoint
GRANT INSERT ("id", "organization_id", "email", "role", "token_hash", "invited_by", "expires_at") ON "invitations" TO authenticated;
--> statement-breakpoint
GRANT DELETE ON "invitations" TO authenticated;
--> statement-breakpoint
CREATE POLICY "organizations_all_by_auth" ON "organizations" AS PERMISSIVE FOR ALL TO authgate_auth USING (true) WITH CHECK (true);
--> statement-breakpoint
CREATE POLICY "memberships_all_by_auth" ON "memberships" AS PERMISSIVE FOR ALL TO authgate_auth USING (true) WITH CHECK (true);
--> statement-breakpoint
CREATE POLICY "invitations_all_by_auth" ON "invitations" AS PERMISSIVE FOR ALL TO authgate_auth USING (true) WITH CHECK (true);
--> statement-breakpoint
-- The policy helpers for every org-scoped table, ours and the app's. Read at request time:
-- a removed member loses access on the very next request, whatever their token says.
-- SECURITY DEFINER (owned by authgate_auth) so a policy on memberships itself does not recurse.
CREATE OR REPLACE FUNCTION auth.is_member(org uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT EXISTS (
      SELECT 1 FROM public.memberships m
      WHERE m.organization_id = org AND m.user_id = auth.uid()
    )
  $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION auth.has_org_role(org uuid, roles text[]) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT EXISTS (
      SELECT 1 FROM public.memberships m
      WHERE m.organization_id = org AND m.user_id = auth.uid() AND m.role = ANY (roles)
    )
  $$;
--> statement-breakpoint
-- Whether the caller created `org` and nobody is a member of it yet: the one moment a user
-- may make themselves a member (the owner of an organisation they just created).
CREATE OR REPLACE FUNCTION auth.may_found_organization(org uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT EXISTS (SELECT 1 FROM public.organizations o WHERE o.id = org AND o.created_by = auth.uid())
      AND NOT EXISTS (SELECT 1 FROM public.memberships m WHERE m.organization_id = org)
  $$;
--> statement-breakpoint
ALTER FUNCTION auth.is_member(uuid) OWNER TO authgate_auth;
--> statement-breakpoint
ALTER FUNCTION auth.has_org_role(uuid, text[]) OWNER TO authgate_auth;
--> statement-breakpoint
ALTER FUNCTION auth.may_found_organization(uuid) OWNER TO authgate_auth;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.is_member(uuid), auth.has_org_role(uuid, text[]), auth.may_found_organization(uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.is_member(uuid), auth.has_org_role(uuid, text[]) TO anon, authenticated, authgate_auth;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.may_found_organization(uuid) TO authenticated;
--> statement-breakpoint
COMMENT ON FUNCTION auth.is_member(uuid) IS 'Whether the caller (auth.uid()) is a member of the organisation, read now; for policies, as (select auth.is_member(org_id)).';
--> statement-breakpoint
COMMENT ON FUNCTION auth.has_org_role(uuid, text[]) IS 'Whether the caller is a member of the organisation with one of the roles, read now.';
--> statement-breakpoint
CREATE POLICY "organizations_select_member" ON "organizations" AS PERMISSIVE FOR SELECT TO authenticated
  USING ((select auth.is_member(id)));
--> statement-breakpoint
CREATE POLICY "organizations_insert_own" ON "organizations" AS PERMISSIVE FOR INSERT TO authenticated
  WITH CHECK (created_by = (select auth.uid()));
--> statement-breakpoint
CREATE POLICY "organizations_update_admin" ON "organizations" AS PERMISSIVE FOR UPDATE TO authenticated
  USING ((select auth.has_org_role(id, '{owner,admin}'))) WITH CHECK ((select auth.has_org_role(id, '{owner,admin}')));
--> statement-breakpoint
CREATE POLICY "organizations_delete_owner" ON "organizations" AS PERMISSIVE FOR DELETE TO authenticated
  USING ((select auth.has_org_role(id, '{owner}')));
--> statement-breakpoint
CREATE POLICY "memberships_select_member" ON "memberships" AS PERMISSIVE FOR SELECT TO authenticated
  USING ((select auth.is_member(organization_id)));
--> statement-breakpoint
-- Only the founder, once: everyone else joins through an invitation (auth.accept_invitation).
CREATE POLICY "memberships_insert_founder" ON "memberships" AS PERMISSIVE FOR INSERT TO authenticated
  WITH CHECK (user_id = (select auth.uid()) AND role = 'owner' AND (select auth.may_found_organization(organization_id)));
--> statement-breakpoint
-- Owners change any role; admins change only non-owners, and cannot make an owner.
CREATE POLICY "memberships_update_admin" ON "memberships" AS PERMISSIVE FOR UPDATE TO authenticated
  USING ((select auth.has_org_role(organization_id, '{owner}'))
    OR (role <> 'owner' AND (select auth.has_org_role(organization_id, '{admin}'))))
  WITH CHECK ((select auth.has_org_role(organization_id, '{owner}'))
    OR (role <> 'owner' AND (select auth.has_org_role(organization_id, '{admin}'))));
--> statement-breakpoint
-- A member leaves; an owner removes anyone, an admin anyone but an owner.
CREATE POLICY "memberships_delete" ON "memberships" AS PERMISSIVE FOR DELETE TO authenticated
  USING (user_id = (select auth.uid())
    OR (select auth.has_org_role(organization_id, '{owner}'))
    OR (role <> 'owner' AND (select auth.has_org_role(organization_id, '{admin}'))));
--> statement-breakpoint
CREATE POLICY "invitations_select_admin" ON "invitations" AS PERMISSIVE FOR SELECT TO authenticated
  USING ((select auth.has_org_role(organization_id, '{owner,admin}')));
--> statement-breakpoint
CREATE POLICY "invitations_insert_admin" ON "invitations" AS PERMISSIVE FOR INSERT TO authenticated
  WITH CHECK (invited_by = (select auth.uid())
    AND ((select auth.has_org_role(organization_id, '{owner}'))
      OR (role <> 'owner' AND (select auth.has_org_role(organization_id, '{admin}')))));
--> statement-breakpoint
CREATE POLICY "invitations_delete_admin" ON "invitations" AS PERMISSIVE FOR DELETE TO authenticated
  USING ((select auth.has_org_role(organization_id, '{owner,admin}')));
--> statement-breakpoint
-- An organisation always keeps an owner: the last one cannot leave, be removed or be
-- demoted. Skipped when the row goes because its organisation or its user was deleted.
-- The organisation's row is locked first, so two owners demoting each other at once queue.
CREATE OR REPLACE FUNCTION auth.keep_an_owner() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    IF OLD.role <> 'owner' OR (TG_OP = 'UPDATE' AND NEW.role = 'owner') THEN
      RETURN NULL;
    END IF;
    PERFORM 1 FROM public.organizations o WHERE o.id = OLD.organization_id FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = OLD.user_id) THEN
      RETURN NULL;
    END IF;
    IF NOT EXISTS (
      SELECT 1 FROM public.memberships m WHERE m.organization_id = OLD.organization_id AND m.role = 'owner'
    ) THEN
      RAISE EXCEPTION 'an organization keeps at least one owner' USING ERRCODE = 'AG409';
    END IF;
    RETURN NULL;
  END
  $$;
--> statement-breakpoint
ALTER FUNCTION auth.keep_an_owner() OWNER TO authgate_auth;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.keep_an_owner() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER memberships_keep_an_owner AFTER UPDATE OR DELETE ON "memberships"
  FOR EACH ROW EXECUTE FUNCTION auth.keep_an_owner();
--> statement-breakpoint
-- The one way into an organisation besides founding it: the secret of a mailed invitation,
-- used by a signed-in user whose proven (confirmed) address is the invited one. Single use
-- (accepted_at), refused after expiry or revocation (the row is gone). Returns the
-- organisation's id; raises AG410 for an invitation that does not work, AG403 for a caller
-- whose address does not match.
CREATE OR REPLACE FUNCTION auth.accept_invitation(p_token_hash text) RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    uid uuid := auth.uid();
    inv public.invitations;
    u auth.users;
  BEGIN
    IF uid IS NULL THEN
      RAISE EXCEPTION 'not signed in' USING ERRCODE = 'AG403';
    END IF;
    SELECT * INTO inv FROM public.invitations i WHERE i.token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND OR inv.accepted_at IS NOT NULL OR inv.expires_at <= now() THEN
      RAISE EXCEPTION 'invitation invalid' USING ERRCODE = 'AG410';
    END IF;
    SELECT * INTO u FROM auth.users x WHERE x.id = uid;
    IF NOT FOUND OR u.email IS NULL OR u.email_confirmed_at IS NULL OR u.is_anonymous OR u.email <> inv.email THEN
      RAISE EXCEPTION 'invitation for another address' USING ERRCODE = 'AG403';
    END IF;
    UPDATE public.invitations SET accepted_at = now() WHERE id = inv.id;
    INSERT INTO public.memberships (organization_id, user_id, role)
      VALUES (inv.organization_id, uid, inv.role)
      ON CONFLICT (organization_id, user_id) DO NOTHING;
    RETURN inv.organization_id;
  END
  $$;
--> statement-breakpoint
ALTER FUNCTION auth.accept_invitation(text) OWNER TO authgate_auth;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.accept_invitation(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.accept_invitation(text) TO authenticated;
--> statement-breakpoint
-- Every change of the three tables is audited in its own transaction, whichever path made
-- it (the gateway's resolvers, an app's resolver through ctx.db): the request's role
-- cannot write auth.audit_log, the trigger (owned by authgate_auth) can. Rows that go
-- because their organisation was deleted are covered by organization.deleted.
CREATE OR REPLACE FUNCTION auth.audit_organization_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    actor uuid := auth.uid();
    r record;
    ev text;
    subject uuid := actor;
    detail jsonb;
  BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_TABLE_NAME = 'organizations' THEN
      ev := CASE TG_OP WHEN 'INSERT' THEN 'organization.created' WHEN 'UPDATE' THEN 'organization.updated'
        ELSE 'organization.deleted' END;
      detail := jsonb_build_object('organizationId', r.id);
    ELSE
      IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM public.organizations o WHERE o.id = r.organization_id) THEN
        RETURN NULL;
      END IF;
      IF TG_TABLE_NAME = 'memberships' THEN
        subject := r.user_id;
        ev := CASE TG_OP WHEN 'INSERT' THEN 'organization.member_added'
          WHEN 'UPDATE' THEN 'organization.member_role_changed'
          ELSE CASE WHEN r.user_id = actor THEN 'organization.member_left' ELSE 'organization.member_removed' END END;
        detail := jsonb_build_object('organizationId', r.organization_id, 'role', r.role);
      ELSE
        ev := CASE TG_OP WHEN 'INSERT' THEN 'organization.invitation_created'
          WHEN 'UPDATE' THEN 'organization.invitation_accepted' ELSE 'organization.invitation_revoked' END;
        detail := jsonb_build_object('organizationId', r.organization_id, 'invitationId', r.id, 'role', r.role);
      END IF;
    END IF;
    INSERT INTO auth.audit_log (actor_kind, actor_id, user_id, event, ip, user_agent, detail)
    VALUES (CASE WHEN actor IS NULL THEN 'system' ELSE 'user' END, actor, subject, ev,
      nullif(current_setting('authgate.client_ip', true), ''),
      left(nullif(current_setting('authgate.user_agent', true), ''), 512), detail);
    RETURN NULL;
  END
  $$;
--> statement-breakpoint
ALTER FUNCTION auth.audit_organization_change() OWNER TO authgate_auth;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.audit_organization_change() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER organizations_audit AFTER INSERT OR UPDATE OR DELETE ON "organizations"
  FOR EACH ROW EXECUTE FUNCTION auth.audit_organization_change();
--> statement-breakpoint
CREATE TRIGGER memberships_audit AFTER INSERT OR UPDATE OR DELETE ON "memberships"
  FOR EACH ROW EXECUTE FUNCTION auth.audit_organization_change();
--> statement-breakpoint
CREATE TRIGGER invitations_audit AFTER INSERT OR UPDATE OR DELETE ON "invitations"
  FOR EACH ROW EXECUTE FUNCTION auth.audit_organization_change();

--> statement-breakpoint
-- The organisation a session works in, for clients: newly minted access tokens carry it as
-- the claim org_id while the user is still a member. The helpers never read it.
ALTER TABLE "auth"."sessions" ADD COLUMN "active_organization_id" uuid;
--> statement-breakpoint
ALTER TABLE "auth"."sessions" ADD CONSTRAINT "sessions_active_organization_id_organizations_id_fk" FOREIGN KEY ("active_organization_id") REFERENCES "public"."organizations"("id") ON DELETE set null ON UPDATE no action;
--> statement-breakpoint
-- Sets (or, with null, clears) the caller's session's active organisation; false when the
-- caller is not a member of it, or the token has no session of ours.
CREATE OR REPLACE FUNCTION auth.set_active_organization(org uuid) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    IF org IS NOT NULL AND NOT auth.is_member(org) THEN
      RETURN false;
    END IF;
    UPDATE auth.sessions s SET active_organization_id = org, updated_at = now()
      WHERE s.id = (auth.jwt() ->> 'session_id')::uuid AND s.user_id = auth.uid();
    RETURN FOUND;
  END
  $$;
--> statement-breakpoint
ALTER FUNCTION auth.set_active_organization(uuid) OWNER TO authgate_auth;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.set_active_organization(uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.set_active_organization(uuid) TO authenticated;
