-- baseline / post-data: what the found schema has besides tables, built after loading.
-- Same contract as pre.sql (one transaction, search_path = baseline, public).

-- Foreign keys as the review found them: present on the main relations, but with the
-- "inconsistent cascading rules" it criticises (some CASCADE, some SET NULL, some the
-- default NO ACTION), and none on dashboards.template_id or data_sources (its
-- "soft references"). The referencing columns have no indexes: only PKs and the unique
-- email exist, as in a schema nobody has tuned.
ALTER TABLE users            ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE SET NULL;
ALTER TABLE projects         ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE projects         ADD FOREIGN KEY (owner_id)        REFERENCES users(id)         ON DELETE SET NULL;
ALTER TABLE project_members  ADD FOREIGN KEY (project_id)      REFERENCES projects(id)      ON DELETE CASCADE;
ALTER TABLE project_members  ADD FOREIGN KEY (user_id)         REFERENCES users(id)         ON DELETE CASCADE;
ALTER TABLE dashboard_templates ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE SET NULL;
ALTER TABLE datasets         ADD FOREIGN KEY (project_id)      REFERENCES projects(id)      ON DELETE CASCADE;
ALTER TABLE dashboards       ADD FOREIGN KEY (project_id)      REFERENCES projects(id)      ON DELETE CASCADE;
ALTER TABLE dashboards       ADD FOREIGN KEY (owner_id)        REFERENCES users(id);        -- NO ACTION: blocks user deletion
ALTER TABLE capabilities     ADD FOREIGN KEY (organization_id) REFERENCES organizations(id);
ALTER TABLE capabilities     ADD FOREIGN KEY (owner_id)        REFERENCES users(id)         ON DELETE SET NULL;
ALTER TABLE knowledge_bases  ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE knowledge_bases  ADD FOREIGN KEY (project_id)      REFERENCES projects(id)      ON DELETE SET NULL;
ALTER TABLE documents        ADD FOREIGN KEY (knowledge_base_id) REFERENCES knowledge_bases(id) ON DELETE CASCADE;
ALTER TABLE mcp_integrations ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE mcp_integrations ADD FOREIGN KEY (project_id)      REFERENCES projects(id)      ON DELETE SET NULL;
ALTER TABLE user_activity_log ADD FOREIGN KEY (user_id)        REFERENCES users(id)         ON DELETE SET NULL;

-- The updated_at maintenance trigger the review praises ("Trigger-based Automation").
CREATE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER set_updated_at BEFORE UPDATE ON organizations       FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON users               FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON projects            FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON dashboard_templates FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON datasets            FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON dashboards          FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON capabilities        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON knowledge_bases     FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON documents           FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON mcp_integrations    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- The review's "CURRENT: Generic configuration" vector index, verbatim.
CREATE INDEX idx_documents_vector ON documents
  USING ivfflat (embedding_vector vector_cosine_ops)
  WITH (lists = 100);
