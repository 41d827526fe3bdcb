-- _shared/pre.sql: Supabase-style identity shared by every variant.
--
-- Run once per database, before any variant; idempotent, so running it again is harmless.
-- Outside Supabase there is no `auth` schema and there are no API roles, so we create them
-- the way Supabase does: requests run as `authenticated` (or `anon`) inside a transaction
-- in which PostgREST has done
--     SET LOCAL ROLE authenticated;
--     SELECT set_config('request.jwt.claims', '{"sub":"<user uuid>","role":"authenticated"}', true);
-- and RLS policies read the user through auth.uid().

-- Roles: NOLOGIN like on Supabase (the login role switches to them with SET ROLE).
-- NOINHERIT as on Supabase. service_role has BYPASSRLS: it is the back-office/app key.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$$;

-- A superuser may SET ROLE to anything. A non-superuser login role (a cloud DSN) must be a
-- member of the API roles to switch to them, as Supabase's `authenticator` is.
DO $$
BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    IF NOT pg_has_role(current_user, 'anon', 'MEMBER') THEN
      EXECUTE format('GRANT anon TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'authenticated', 'MEMBER') THEN
      EXECUTE format('GRANT authenticated TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'service_role', 'MEMBER') THEN
      EXECUTE format('GRANT service_role TO %I', current_user);
    END IF;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;

-- The three functions as Supabase defines them (supabase/auth migrations): the legacy
-- per-claim setting `request.jwt.claim.<name>` first, then the JSON `request.jwt.claims`
-- that current PostgREST sets. STABLE, so the planner may evaluate a wrapped call
-- `(select auth.uid())` once per statement (an InitPlan) instead of once per row.
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
-- EXECUTE on new functions goes to PUBLIC by default; say it explicitly for these three,
-- since every policy calls them as the requesting role.
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt() TO anon, authenticated, service_role;
