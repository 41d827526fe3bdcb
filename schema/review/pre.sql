-- review / pre-data: baseline's tables plus every table-shape statement of the review,
-- as written. Where PostgreSQL refuses a statement, the least change that makes it run is
-- made and marked "CHANGED:". Its other choices, mistakes included, are kept on purpose:
-- they are what the benchmark measures. See schema/README.md for the full ledger.
--
-- Contract: one transaction, `SET LOCAL search_path = review, public`, {{dim}} replaced.

-- ---------------------------------------------------------------------------------------
-- Baseline's tables, unchanged (same columns, so one seeder loads every variant).
-- ---------------------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------------------
-- The review's statements (section "Data Encryption Strategy")
-- ---------------------------------------------------------------------------------------
-- The ciphertext column is added, the plaintext `authentication` column is kept (the
-- review never drops it nor migrates data into the new column). CREATE EXTENSION and
-- encrypt_sensitive_data() are in post.sql (they are not table shape).
ALTER TABLE mcp_integrations
ADD COLUMN authentication_encrypted BYTEA;

-- ---------------------------------------------------------------------------------------
-- "Partitioning Strategy"
-- ---------------------------------------------------------------------------------------
-- CHANGED: the review writes `(LIKE user_activity_log INCLUDING ALL) PARTITION BY RANGE
-- (timestamp)`. INCLUDING ALL copies the primary key (id), and PostgreSQL refuses it:
-- "unique constraint on partitioned table must include all partitioning columns".
-- Least change: copy everything but the indexes and declare the key as (id, timestamp).
-- Note what LIKE still does not copy: foreign keys, triggers, RLS policies. The review
-- never moves data into this table nor points the app at it, so the app keeps writing
-- user_activity_log; this one stays a side table.
CREATE TABLE user_activity_log_partitioned (
  LIKE user_activity_log INCLUDING ALL EXCLUDING INDEXES,
  PRIMARY KEY (id, timestamp)
) PARTITION BY RANGE (timestamp);

-- As written: one partition and no DEFAULT partition, so any insert outside January 2024
-- fails with "no partition of relation ... found for row".
CREATE TABLE user_activity_log_2024_01 PARTITION OF user_activity_log_partitioned
FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');

-- ---------------------------------------------------------------------------------------
-- "Soft Delete Implementation" (columns only; index and function in post.sql)
-- ---------------------------------------------------------------------------------------
ALTER TABLE capabilities ADD COLUMN deleted_at TIMESTAMP WITH TIME ZONE;
ALTER TABLE projects ADD COLUMN deleted_at TIMESTAMP WITH TIME ZONE;

-- ---------------------------------------------------------------------------------------
-- "Audit Trail System" (table; trigger function in post.sql)
-- ---------------------------------------------------------------------------------------
-- As written, including the FK on user_id (it makes audited users undeletable) and no
-- RLS (any API user reads every tenant's audit rows). The FK is declared inline as the
-- review does; audit_log is empty during the load, so it costs nothing there.
CREATE TABLE audit_log (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  table_name VARCHAR(100) NOT NULL,
  record_id UUID NOT NULL,
  operation VARCHAR(10) NOT NULL, -- INSERT, UPDATE, DELETE
  old_values JSONB,
  new_values JSONB,
  changed_fields TEXT[],
  user_id UUID REFERENCES users(id),
  ip_address INET,
  user_agent TEXT,
  timestamp TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

-- Privileges as on Supabase (DML for the API roles on every table, audit_log and the
-- partitions included; TRUNCATE left out). The review adds no grants of its own.
GRANT USAGE ON SCHEMA review TO anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA review TO anon, authenticated, service_role;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA review TO anon, authenticated, service_role;
