-- The service role, as in Supabase: bypasses RLS, used by trusted back ends with a
-- service-role JWT. Creating a BYPASSRLS role needs a superuser migrating role.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$$;
--> statement-breakpoint
GRANT service_role TO authgate_authenticator;
--> statement-breakpoint
GRANT USAGE ON SCHEMA auth, public TO service_role;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON public.profiles TO service_role;
--> statement-breakpoint
-- Signing keys: the auth path reads them (and inserts the first); private keys never leave it.
REVOKE ALL ON auth.signing_keys FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON auth.signing_keys TO authgate_auth;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION auth.visible_users(p_ids uuid[])
  RETURNS TABLE (id uuid, email text, role text, created_at timestamptz, last_sign_in_at timestamptz,
                 user_metadata jsonb, app_metadata jsonb)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT u.id, u.email, u.role, u.created_at, u.last_sign_in_at, u.raw_user_meta_data, u.raw_app_meta_data
    FROM auth.users u
    WHERE u.id = ANY (p_ids) AND (u.id = auth.uid() OR auth.role() = 'service_role')
  $$;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.visible_users(uuid[]) TO service_role;
--> statement-breakpoint
COMMENT ON TABLE auth.signing_keys IS 'ES256 access-token signing keys; the newest unretired one signs, retired ones verify for one token lifetime.';
