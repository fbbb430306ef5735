-- The access-token hook (ACCESS_TOKEN_HOOK_ROLES) may issue user tokens whose role is not
-- `authenticated`; they belong to a session of ours all the same. So every token with a
-- subject is checked, whatever its role, as the gateway's own identity statement does;
-- only anon and service_role (which have no session) pass unchecked.
CREATE OR REPLACE FUNCTION auth.require_live_claims() RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  AS $$
  DECLARE
    c jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  BEGIN
    IF c IS NULL OR NOT (c ? 'sub') OR c ->> 'role' IN ('anon', 'service_role') THEN
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
