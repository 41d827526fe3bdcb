-- review / post-data: baseline's post-data plus every remaining statement of the review,
-- as written, in the order of the review. Changes that PostgreSQL forced are marked
-- "CHANGED:"; additions the review forgot but without which nothing could be measured
-- are marked "ADDED:". Everything else is verbatim, mistakes included.
--
-- Contract: one transaction, `SET LOCAL search_path = review, public`, run after the load.

-- Baseline's post-data runs first (variant.toml: extends = "baseline").

-- =======================================================================================
-- 1. "Implement Comprehensive RLS" (verbatim)
-- =======================================================================================
-- Kept as written: bare auth.uid() (re-evaluated per row), FOR ALL, no TO clause (the
-- policies also apply to anon), subqueries per row on unindexed columns. users_own_data
-- FOR ALL lets a user UPDATE their own row, organization_id included, and
-- org_member_access trusts that column: the privilege escalation the benchmark tests.
CREATE POLICY "users_own_data" ON users
  FOR ALL USING (auth.uid() = id);

CREATE POLICY "org_member_access" ON projects
  FOR SELECT USING (
    owner_id = auth.uid() OR
    organization_id IN (
      SELECT organization_id FROM users 
      WHERE id = auth.uid()
    )
  );

CREATE POLICY "project_member_access" ON dashboards
  FOR ALL USING (
    owner_id = auth.uid() OR
    project_id IN (
      SELECT pm.project_id 
      FROM project_members pm
      WHERE pm.user_id = auth.uid()
      AND pm.role IN ('owner', 'admin', 'editor')
    )
  );

-- ADDED: the review creates policies but never enables row level security, so as written
-- they do nothing. Enabled here on the three tables its policies cover (and only those:
-- capabilities, documents, mcp_integrations, audit_log ... stay open, as in the review).
-- Not FORCEd: the owner (the harness) bypasses them; requests must run as a non-owner
-- role (authenticated). Note that projects now has only a SELECT policy, so INSERT,
-- UPDATE and DELETE on projects are denied to API users (the review's omission).
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE dashboards ENABLE ROW LEVEL SECURITY;

-- =======================================================================================
-- 1b. "Data Encryption Strategy" (the column is added in pre.sql)
-- =======================================================================================
-- CHANGED: `CREATE EXTENSION IF NOT EXISTS pgcrypto` fails on a server without pgcrypto
-- (the embedded server has none). The extension and function are created only where
-- pgcrypto is available; otherwise encrypt_sensitive_data() cannot exist on this server,
-- authentication_encrypted stays NULL and the plaintext column stays the only copy
-- (which is also what the review's migration leaves, since it never fills the new column).
-- Where it is created it is verbatim: SECURITY DEFINER without SET search_path, callable
-- by PUBLIC, the key read from a setting (errors when unset, may leak into logs).
-- Without a SCHEMA clause the extension goes into the first schema of search_path
-- (review), as the review's statement would put it into its current schema.
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') THEN
    CREATE EXTENSION IF NOT EXISTS pgcrypto;
    CREATE OR REPLACE FUNCTION encrypt_sensitive_data(data TEXT)
    RETURNS BYTEA AS $$
    BEGIN
      RETURN pgp_sym_encrypt(data, current_setting('app.encryption_key'));
    END;
    $$ LANGUAGE plpgsql SECURITY DEFINER;
  ELSE
    RAISE NOTICE 'review: pgcrypto is not available on this server; encrypt_sensitive_data() not created, mcp_integrations.authentication stays plaintext';
  END IF;
END
$do$;

-- =======================================================================================
-- 2. "Advanced Indexing Strategy"
-- =======================================================================================
-- Composite indexes for common query patterns (verbatim)
CREATE INDEX idx_projects_org_status_owner ON projects(organization_id, status, owner_id);
CREATE INDEX idx_capabilities_category_status_featured ON capabilities(category, status, featured);
CREATE INDEX idx_documents_kb_type_language ON documents(knowledge_base_id, document_type, language);

-- Partial indexes for filtered queries (first one verbatim)
CREATE INDEX idx_active_capabilities ON capabilities(category, created_at) 
WHERE status = 'published' AND approval_status = 'approved';

-- CHANGED: the review writes `WHERE timestamp > NOW() - INTERVAL '30 days'`; PostgreSQL
-- refuses it ("functions in index predicate must be marked IMMUTABLE": now() is STABLE).
-- Least change that keeps the index partial and its size what the review intended: the
-- cutoff NOW() - 30 days is evaluated once, when the index is built, and written in as a
-- constant. Consequences to know when reading results: the index goes stale (it keeps
-- covering "30 days before the build" forever), and the planner uses it only for queries
-- whose predicate provably implies the constant, i.e. `timestamp > '<literal date>'` with a
-- date at or after the cutoff, never for `timestamp > now() - interval '30 days'`.
DO $do$
BEGIN
  EXECUTE format(
    'CREATE INDEX idx_recent_activities ON user_activity_log(user_id, timestamp) WHERE timestamp > %L::timestamptz',
    now() - INTERVAL '30 days');
END
$do$;

-- Expression indexes for computed fields (verbatim). Note: name || ' ' || description is
-- NULL when description is NULL, so such rows are not searchable even by name.
CREATE INDEX idx_capabilities_search_text ON capabilities 
USING GIN(to_tsvector('english', name || ' ' || description));

-- Optimized vector index with dynamic lists.
-- CHANGED: `CREATE INDEX CONCURRENTLY` cannot run inside a function (nor in the
-- transaction the harness runs this file in): "CREATE INDEX CONCURRENTLY cannot be
-- executed from a function". CONCURRENTLY is dropped; nothing else changes. Kept: lists =
-- rows/1000 (pgvector's rule only up to 1M rows, sqrt(rows) beyond), probes never raised
-- from 1, and the old lists=100 index (idx_documents_vector, above) stays, so every
-- document write now updates two IVFFlat indexes and the planner picks one of them.
CREATE OR REPLACE FUNCTION create_optimal_vector_index()
RETURNS VOID AS $$
DECLARE
  doc_count INTEGER;
  optimal_lists INTEGER;
BEGIN
  SELECT COUNT(*) INTO doc_count FROM documents;
  optimal_lists := GREATEST(1, doc_count / 1000);
  
  EXECUTE format('CREATE INDEX idx_documents_vector_optimized 
    ON documents USING ivfflat (embedding_vector vector_cosine_ops) 
    WITH (lists = %s)', optimal_lists);
END;
$$ LANGUAGE plpgsql;

-- ADDED: the review defines the function but shows no call; it is called once here,
-- after the load, which is what "dynamic configuration based on data size" needs.
SELECT create_optimal_vector_index();

-- =======================================================================================
-- 3. "Soft Delete Implementation" (columns in pre.sql)
-- =======================================================================================
CREATE INDEX idx_capabilities_active ON capabilities(category, status) 
WHERE deleted_at IS NULL;

-- Verbatim: SECURITY DEFINER, no SET search_path (the unqualified `capabilities` is
-- resolved through the caller's search_path), EXECUTE left to PUBLIC, no ownership check:
-- any API user can archive any tenant's capability by id.
CREATE OR REPLACE FUNCTION soft_delete_capability(capability_uuid UUID)
RETURNS VOID AS $$
BEGIN
  UPDATE capabilities 
  SET deleted_at = NOW(), status = 'archived'
  WHERE id = capability_uuid;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER;

-- =======================================================================================
-- 3b. "Referential Integrity" (verbatim)
-- =======================================================================================
-- Fails if the loaded data holds a template_id that is not in dashboard_templates.
-- No ON DELETE clause: deleting a template in use is refused (NO ACTION).
ALTER TABLE dashboards 
ADD CONSTRAINT fk_dashboards_template 
FOREIGN KEY (template_id) REFERENCES dashboard_templates(id);

-- Verbatim and, as in the review, not attached to anything (no CHECK, no trigger): it is
-- not referential integrity (nothing re-checks when a dataset is deleted), and FOREACH
-- raises "FOREACH expression must not be null" on a NULL array.
CREATE OR REPLACE FUNCTION validate_data_sources(sources UUID[])
RETURNS BOOLEAN AS $$
DECLARE
  source_id UUID;
BEGIN
  FOREACH source_id IN ARRAY sources
  LOOP
    IF NOT EXISTS (
      SELECT 1 FROM datasets WHERE id = source_id
      UNION
      SELECT 1 FROM dashboards WHERE id = source_id
    ) THEN
      RETURN FALSE;
    END IF;
  END LOOP;
  RETURN TRUE;
END;
$$ LANGUAGE plpgsql;

-- =======================================================================================
-- 4. "Audit Trail System" (table in pre.sql)
-- =======================================================================================
-- Verbatim: SECURITY DEFINER without SET search_path (audit_log is found through the
-- caller's search_path), to_jsonb(NEW) copies every column into the log, the plaintext
-- mcp_integrations.authentication included; NEW.id/OLD.id assume an `id` column.
CREATE OR REPLACE FUNCTION audit_trigger_function()
RETURNS TRIGGER AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO audit_log (table_name, record_id, operation, old_values, user_id)
    VALUES (TG_TABLE_NAME, OLD.id, TG_OP, to_jsonb(OLD), auth.uid());
    RETURN OLD;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO audit_log (table_name, record_id, operation, old_values, new_values, user_id)
    VALUES (TG_TABLE_NAME, NEW.id, TG_OP, to_jsonb(OLD), to_jsonb(NEW), auth.uid());
    RETURN NEW;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO audit_log (table_name, record_id, operation, new_values, user_id)
    VALUES (TG_TABLE_NAME, NEW.id, TG_OP, to_jsonb(NEW), auth.uid());
    RETURN NEW;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER;

-- ADDED: the review gives no CREATE TRIGGER. The harness's assumption: the function is
-- attached, AFTER each row change, to the tables the review singles out as sensitive or
-- central: projects, capabilities, dashboards and mcp_integrations (the same four as in
-- hardened, so audit costs compare like for like). Created after the load, so seeding
-- writes no audit rows.
CREATE TRIGGER audit_projects AFTER INSERT OR UPDATE OR DELETE ON projects
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
CREATE TRIGGER audit_capabilities AFTER INSERT OR UPDATE OR DELETE ON capabilities
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
CREATE TRIGGER audit_dashboards AFTER INSERT OR UPDATE OR DELETE ON dashboards
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();
CREATE TRIGGER audit_mcp_integrations AFTER INSERT OR UPDATE OR DELETE ON mcp_integrations
  FOR EACH ROW EXECUTE FUNCTION audit_trigger_function();

-- =======================================================================================
-- 4b. "Advanced Caching Strategy" (verbatim)
-- =======================================================================================
-- The casts fail on the first non-numeric rating/downloads ("invalid input syntax"), and
-- an integer overflow fails the downloads cast; the view has no unique index, so the
-- refresh function below fails with "cannot refresh materialized view ... concurrently".
-- Both are kept so that the failures are measurable. A materialized view has no RLS: any
-- role with SELECT on it sees every tenant's aggregate.
CREATE MATERIALIZED VIEW mv_capability_stats AS
SELECT 
  category,
  COUNT(*) as total_capabilities,
  AVG((metrics->>'rating')::DECIMAL) as avg_rating,
  SUM((metrics->>'downloads')::INTEGER) as total_downloads
FROM capabilities 
WHERE status = 'published' AND deleted_at IS NULL
GROUP BY category;

CREATE OR REPLACE FUNCTION refresh_capability_stats()
RETURNS VOID AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY mv_capability_stats;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER;

-- ADDED: the view is created after pre.sql's blanket grant; give it the Supabase default.
GRANT SELECT ON mv_capability_stats TO anon, authenticated, service_role;
