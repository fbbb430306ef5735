-- The auth path gets a login role of its own that inherits authgate_auth, instead of
-- switching to it with a startup parameter: connection poolers in transaction mode
-- (PgBouncer, Supavisor) refuse or drop such parameters.
CREATE OR REPLACE FUNCTION authgate_private.ensure_login_role(p_role text, p_verifier text, p_group text) RETURNS void
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF p_role !~ '^authgate_login_[a-z0-9_]{1,47}$' THEN
      RAISE EXCEPTION 'unexpected login role name %', p_role;
    END IF;
    IF p_group NOT IN ('authgate_authenticator', 'authgate_auth') THEN
      RAISE EXCEPTION 'unexpected group %', p_group;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = p_role) THEN
      EXECUTE format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', p_role);
    END IF;
    EXECUTE format('ALTER ROLE %I WITH LOGIN INHERIT NOSUPERUSER NOBYPASSRLS PASSWORD %L', p_role, p_verifier);
    EXECUTE format('GRANT %I TO %I', p_group, p_role);
  END
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION authgate_private.ensure_login_role(text, text, text) FROM PUBLIC;
