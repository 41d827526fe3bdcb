-- baseline / pre-data: the backend as the review found it (tables only).
--
-- Contract (see schema/README.md): the harness has created the schema, runs this file in
-- one transaction with `SET LOCAL search_path = baseline, public` (pgvector's `vector` type
-- lives in public) and replaces {{dim}} with the embedding dimension and {{schema}} with
-- the variant's schema (review extends this file). Primary keys and the
-- unique email are created here; FKs, the vector index and triggers come in post.sql,
-- after the data is loaded.
--
-- What the review describes and this variant keeps: UUID keys, created_at/updated_at,
-- jsonb for flexible fields, varchar(255) where the review shows it, the plaintext
-- `authentication jsonb`, soft references (dashboards.template_id without FK,
-- data_sources uuid[]), no RLS, no soft delete, no audit, user_activity_log unpartitioned.
-- Tenant-owned tables carry organization_id so that the app (which has no RLS here) can
-- write the tenant filter in every query.

CREATE TABLE organizations (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        varchar(255) NOT NULL,
  slug        varchar(255) NOT NULL,
  plan        varchar(50)  NOT NULL DEFAULT 'free',
  settings    jsonb DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid,
  email           varchar(255) NOT NULL UNIQUE,
  full_name       varchar(255),
  role            varchar(50) NOT NULL DEFAULT 'member',   -- role in the organisation
  preferences     jsonb DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  owner_id        uuid,
  name            varchar(255) NOT NULL,
  description     text,
  status          varchar(50) NOT NULL DEFAULT 'active',
  settings        jsonb DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_members (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id  uuid NOT NULL,
  user_id     uuid NOT NULL,
  role        varchar(50) NOT NULL DEFAULT 'viewer',      -- owner, admin, editor, viewer
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboard_templates (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid,                                   -- NULL: a global template
  name            varchar(255) NOT NULL,
  description     text,
  layout          jsonb DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE datasets (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  project_id      uuid NOT NULL,
  name            varchar(255) NOT NULL,
  description     text,
  source_type     varchar(50) NOT NULL DEFAULT 'csv',
  config          jsonb DEFAULT '{}',
  row_count       bigint NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboards (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  project_id      uuid NOT NULL,
  owner_id        uuid,
  template_id     uuid,                    -- soft reference: no FK (the review's finding)
  name            varchar(255) NOT NULL,
  description     text,
  layout          jsonb DEFAULT '{}',
  data_sources    uuid[] DEFAULT '{}',     -- dataset ids, no referential integrity
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE capabilities (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  owner_id        uuid,
  name            varchar(255) NOT NULL,
  description     text,
  category        varchar(100) NOT NULL,
  status          varchar(50) NOT NULL DEFAULT 'draft',       -- draft, published, archived
  approval_status varchar(50) NOT NULL DEFAULT 'pending',     -- pending, approved, rejected
  featured        boolean NOT NULL DEFAULT false,
  metrics         jsonb DEFAULT '{}',                         -- e.g. {"rating": 4.5, "downloads": 120}
  version         integer NOT NULL DEFAULT 1,                 -- the review's "basic version fields"
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE knowledge_bases (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  project_id      uuid,                                       -- NULL: organisation-wide
  name            varchar(255) NOT NULL,
  description     text,
  settings        jsonb DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id   uuid NOT NULL,          -- denormalised tenant, so filters need no join
  knowledge_base_id uuid NOT NULL,
  title             text NOT NULL,
  content           text,
  document_type     varchar(50) NOT NULL DEFAULT 'text',      -- text, markdown, html, pdf, code
  language          varchar(10) NOT NULL DEFAULT 'en',
  metadata          jsonb DEFAULT '{}',
  embedding_vector  vector({{dim}}),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mcp_integrations (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL,
  project_id      uuid,
  name            varchar(255) NOT NULL,
  url             text NOT NULL,
  authentication  jsonb DEFAULT '{}',       -- plain text secrets: the review's finding
  is_active       boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_activity_log (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id         uuid,
  organization_id uuid,
  action          varchar(100) NOT NULL,
  metadata        jsonb DEFAULT '{}',
  "timestamp"     timestamptz NOT NULL DEFAULT now()
);

-- Privileges a Supabase app has (Supabase grants the API roles DML on its tables; TRUNCATE
-- is left out because RLS does not apply to it). Baseline has no RLS: its requests run as
-- service_role, the app role, with the tenant filter written in each query.
GRANT USAGE ON SCHEMA {{schema}} TO anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {{schema}} TO anon, authenticated, service_role;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA {{schema}} TO anon, authenticated, service_role;
