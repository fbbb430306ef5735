-- The auth path sends and checks emailed tokens, TOTP factors and recovery codes; requests
-- never see these tables.
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.one_time_tokens, auth.mfa_factors, auth.mfa_recovery_codes TO authgate_auth;
--> statement-breakpoint
GRANT USAGE, SELECT ON SEQUENCE auth.mfa_recovery_codes_id_seq TO authgate_auth;
--> statement-breakpoint
-- The periodic clean-up of anonymous users reads only these rows.
CREATE INDEX IF NOT EXISTS users_anonymous_created_at_idx ON auth.users (created_at) WHERE is_anonymous;
--> statement-breakpoint
-- The caller's own row, now with whether the email is confirmed and the user anonymous.
DROP FUNCTION IF EXISTS auth.visible_users(uuid[]);
--> statement-breakpoint
CREATE FUNCTION auth.visible_users(p_ids uuid[])
  RETURNS TABLE (id uuid, email text, role text, created_at timestamptz, last_sign_in_at timestamptz,
                 user_metadata jsonb, app_metadata jsonb, email_confirmed_at timestamptz, is_anonymous boolean)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT u.id, u.email, u.role, u.created_at, u.last_sign_in_at, u.raw_user_meta_data, u.raw_app_meta_data,
           u.email_confirmed_at, u.is_anonymous
    FROM auth.users u
    WHERE u.id = ANY (p_ids) AND u.id = auth.uid()
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.visible_users(uuid[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.visible_users(uuid[]) TO authenticated;
