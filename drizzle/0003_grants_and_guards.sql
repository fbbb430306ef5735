-- Forced: even the table owner goes through the policies.
ALTER TABLE public.profiles FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
REVOKE ALL ON ALL TABLES IN SCHEMA auth FROM PUBLIC;
--> statement-breakpoint
-- The narrow privileged path (src/auth/service.ts) runs as authgate_auth; anon and
-- authenticated get nothing in schema auth but its functions.
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.users, auth.identities, auth.sessions, auth.refresh_tokens TO authgate_auth;
--> statement-breakpoint
GRANT USAGE, SELECT ON SEQUENCE auth.refresh_tokens_id_seq TO authgate_auth;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO anon, authenticated, authgate_auth;
--> statement-breakpoint
GRANT SELECT ON public.profiles TO anon, authenticated, authgate_auth;
--> statement-breakpoint
GRANT INSERT ON public.profiles TO authgate_auth;
--> statement-breakpoint
GRANT INSERT (id, username, full_name, avatar_url, website, is_public) ON public.profiles TO authenticated;
--> statement-breakpoint
GRANT UPDATE (username, full_name, avatar_url, website, is_public) ON public.profiles TO authenticated;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION auth.set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
--> statement-breakpoint
CREATE TRIGGER profiles_set_updated_at BEFORE UPDATE ON public.profiles
  FOR EACH ROW EXECUTE FUNCTION auth.set_updated_at();
--> statement-breakpoint
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON auth.users
  FOR EACH ROW EXECUTE FUNCTION auth.set_updated_at();
--> statement-breakpoint
-- Called in the same statement as the set_config calls of every request with a token, so
-- a signed-out session, a banned or a deleted user is refused on the very next request
-- without an extra round trip. SECURITY DEFINER: the caller cannot read auth.* itself.
CREATE OR REPLACE FUNCTION auth.session_is_live(p_session uuid, p_user uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT EXISTS (
      SELECT 1
      FROM auth.sessions s
      JOIN auth.users u ON u.id = s.user_id
      WHERE s.id = p_session AND s.user_id = p_user
        AND (s.not_after IS NULL OR s.not_after > now())
        AND (u.banned_until IS NULL OR u.banned_until <= now())
    )
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.session_is_live(uuid, uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.session_is_live(uuid, uuid) TO authgate_authenticator;
--> statement-breakpoint
-- The login role itself (NOINHERIT) must resolve auth.session_is_live before it switches role.
GRANT USAGE ON SCHEMA auth TO authgate_authenticator;
--> statement-breakpoint
-- The rows of auth.users a caller may read: its own. Passwords never leave the table.
CREATE OR REPLACE FUNCTION auth.visible_users(p_ids uuid[])
  RETURNS TABLE (id uuid, email text, role text, created_at timestamptz, last_sign_in_at timestamptz,
                 user_metadata jsonb, app_metadata jsonb)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT u.id, u.email, u.role, u.created_at, u.last_sign_in_at, u.raw_user_meta_data, u.raw_app_meta_data
    FROM auth.users u
    WHERE u.id = ANY (p_ids) AND u.id = auth.uid()
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.visible_users(uuid[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.visible_users(uuid[]) TO authenticated;
--> statement-breakpoint
-- Secrets the gateway generates for itself (login password, signing secret); only the
-- migrating role reads them, at start-up.
CREATE SCHEMA IF NOT EXISTS authgate_private;
--> statement-breakpoint
REVOKE ALL ON SCHEMA authgate_private FROM PUBLIC;
--> statement-breakpoint
CREATE TABLE authgate_private.secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
-- ALTER ROLE takes no bind parameters; this keeps the verifier out of spliced SQL.
CREATE OR REPLACE FUNCTION authgate_private.set_login_password(p_verifier text) RETURNS void
  LANGUAGE plpgsql
  AS $$ BEGIN EXECUTE format('ALTER ROLE authgate_authenticator WITH LOGIN PASSWORD %L', p_verifier); END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION authgate_private.set_login_password(text) FROM PUBLIC;
--> statement-breakpoint
-- /readyz compares the applied migrations with the ones this build ships.
GRANT USAGE ON SCHEMA drizzle TO authgate_authenticator;
--> statement-breakpoint
GRANT SELECT ON drizzle.__drizzle_migrations TO authgate_authenticator;
--> statement-breakpoint
COMMENT ON TABLE public.profiles IS 'One per user. Visible to everyone when is_public, otherwise to its owner alone; only the owner writes it.';
--> statement-breakpoint
COMMENT ON SCHEMA auth IS 'Users, identities, sessions and refresh tokens. Not readable by anon or authenticated.';
