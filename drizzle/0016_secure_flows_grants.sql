-- The request path's login role must not reach the auth path's role: through it, any code
-- running as the request path could read password hashes and private signing keys. The
-- auth path has had a login role of its own (inheriting authgate_auth) since 0010.
REVOKE authgate_auth FROM authgate_authenticator;
--> statement-breakpoint
ALTER TABLE auth.signing_keys ADD CONSTRAINT signing_keys_private_present
  CHECK (sealed_private_jwk IS NOT NULL OR private_jwk IS NOT NULL);
--> statement-breakpoint
DROP FUNCTION IF EXISTS auth.visible_users(uuid[]);
--> statement-breakpoint
CREATE FUNCTION auth.visible_users(p_ids uuid[])
  RETURNS TABLE (id uuid, email text, role text, created_at timestamptz, last_sign_in_at timestamptz,
                 user_metadata jsonb, app_metadata jsonb, email_confirmed_at timestamptz, is_anonymous boolean,
                 pending_email text)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
    SELECT u.id, u.email, u.role, u.created_at, u.last_sign_in_at, u.raw_user_meta_data, u.raw_app_meta_data,
           u.email_confirmed_at, u.is_anonymous, u.pending_email
    FROM auth.users u
    WHERE u.id = ANY (p_ids) AND u.id = auth.uid()
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.visible_users(uuid[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.visible_users(uuid[]) TO authenticated;
--> statement-breakpoint
COMMENT ON COLUMN auth.users.pending_email IS 'An address given but not yet proven: in no token, holding nothing.';
--> statement-breakpoint
COMMENT ON COLUMN auth.identities.issuer IS 'The verified iss that vouches for provider_id; identities are keyed by (issuer, provider_id).';
