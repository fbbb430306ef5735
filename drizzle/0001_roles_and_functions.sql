-- Roles are cluster-wide and may already exist (a Supabase-shaped cluster, a second
-- database in the same cluster), so each is created only when missing.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authgate_auth') THEN
    CREATE ROLE authgate_auth NOLOGIN NOINHERIT;
  END IF;
  -- The gateway's login role: no privileges of its own (NOINHERIT), so a transaction
  -- that has not switched to anon/authenticated/authgate_auth can read nothing.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authgate_authenticator') THEN
    CREATE ROLE authgate_authenticator LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;
--> statement-breakpoint
GRANT anon, authenticated, authgate_auth TO authgate_authenticator;
--> statement-breakpoint
GRANT USAGE ON SCHEMA auth TO anon, authenticated, authgate_auth;
--> statement-breakpoint
-- Same definitions as Supabase, so policies written for it port unchanged. Plain SQL
-- without SET clauses so the planner can inline them into policies.
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION auth.role() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role' $$;
--> statement-breakpoint
COMMENT ON FUNCTION auth.uid() IS 'The caller''s user id: the sub claim of request.jwt.claims, or null.';
--> statement-breakpoint
COMMENT ON FUNCTION auth.jwt() IS 'The verified access-token claims of the current request, or null.';
--> statement-breakpoint
COMMENT ON FUNCTION auth.role() IS 'The role claim of the current request (anon, authenticated), or null.';
