-- review / pre-data: baseline's tables plus every table-shape statement of the review,
-- as written. Where PostgreSQL refuses a statement, the least change that makes it run is
-- made and marked "CHANGED:". Its other choices, mistakes included, are kept on purpose:
-- they are what the benchmark measures. See schema/README.md for the full ledger.
--
-- Contract: one transaction, `SET LOCAL search_path = review, public`, {{dim}} replaced.

-- Baseline's tables come first: variant.toml says `extends = "baseline"`, so the harness
-- runs schema/baseline/pre.sql (with {{schema}} = review) before this file.

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
