-- For an API beside the gateway (PostgREST, PostGraphile) that verifies our tokens itself and
-- sets request.jwt.claims: the same "revoked on the next request" guarantee the gateway's
-- identity statement gives. Reads the request's claims; for a token of one of our sessions,
-- raises unless the session is live (not signed out or timed out, user not banned or
-- deleted); for any other authenticated token, unless the user is active. SQLSTATE PT401 is
-- PostgREST's "answer 401"; anon passes. Returns true otherwise, so a restrictive policy can
-- call it once per query as (select auth.require_live_claims()).
CREATE OR REPLACE FUNCTION auth.require_live_claims() RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    c jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  BEGIN
    IF c IS NULL OR c ->> 'role' IS DISTINCT FROM 'authenticated' THEN
      RETURN true;
    END IF;
    IF c ? 'session_id' THEN
      IF NOT auth.session_is_live((c ->> 'session_id')::uuid, (c ->> 'sub')::uuid) THEN
        RAISE EXCEPTION 'session ended' USING ERRCODE = 'PT401';
      END IF;
    ELSIF NOT EXISTS (
      SELECT 1 FROM auth.users u
      WHERE u.id = (c ->> 'sub')::uuid AND (u.banned_until IS NULL OR u.banned_until <= now())
    ) THEN
      RAISE EXCEPTION 'user not active' USING ERRCODE = 'PT401';
    END IF;
    RETURN true;
  END
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.require_live_claims() FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.require_live_claims() TO anon, authenticated, authgate_authenticator;
--> statement-breakpoint
COMMENT ON FUNCTION auth.require_live_claims() IS 'For PostgREST db-pre-request or a PostGraphile pgSettings hook: raises (PT401) unless the request''s claims belong to a live session or an active user.';
