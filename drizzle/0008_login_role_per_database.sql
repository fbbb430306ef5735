-- Roles are cluster-wide but each database keeps its own generated login password, so
-- each database gets its own LOGIN role. authgate_authenticator becomes the NOLOGIN group
-- that holds the grants; the login role inherits exactly those (authgate_authenticator is
-- NOINHERIT, so anon/authenticated/authgate_auth/service_role are reachable only by SET ROLE).
ALTER ROLE authgate_authenticator NOLOGIN;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION authgate_private.ensure_login_role(p_role text, p_verifier text) RETURNS void
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF p_role !~ '^authgate_login_[a-z0-9_]{1,47}$' THEN
      RAISE EXCEPTION 'unexpected login role name %', p_role;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = p_role) THEN
      EXECUTE format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', p_role);
    END IF;
    EXECUTE format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD %L', p_role, p_verifier);
    EXECUTE format('GRANT authgate_authenticator TO %I', p_role);
  END
  $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION authgate_private.ensure_login_role(text, text) FROM PUBLIC;
