-- The auth path starts and finishes provider sign-ins; requests never see these tables.
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.oidc_flows, auth.auth_codes TO authgate_auth;
--> statement-breakpoint
-- The identity statement of a request whose token came from a trusted issuer (no session
-- of ours behind it) calls this: a banned or deleted user is refused on the next request,
-- and the transaction aborts before anything pipelined behind it runs.
CREATE OR REPLACE FUNCTION auth.require_active_user(p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    IF NOT EXISTS (
      SELECT 1 FROM auth.users u
      WHERE u.id = p_user AND (u.banned_until IS NULL OR u.banned_until <= now())
    ) THEN
      RAISE EXCEPTION 'user not active' USING ERRCODE = 'AG401';
    END IF;
    RETURN true;
  END
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.require_active_user(uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.require_active_user(uuid) TO authgate_authenticator;
