-- The identity statement of every request with a token calls this. It raises instead of
-- returning false, so the transaction aborts and any statement pipelined behind it fails:
-- a revoked session can never read a row, even for the microseconds before the gateway
-- looks at the answer.
CREATE OR REPLACE FUNCTION auth.require_live_session(p_session uuid, p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
  BEGIN
    IF NOT auth.session_is_live(p_session, p_user) THEN
      RAISE EXCEPTION 'session ended' USING ERRCODE = 'AG401';
    END IF;
    RETURN true;
  END
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION auth.require_live_session(uuid, uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION auth.require_live_session(uuid, uuid) TO authgate_authenticator;
