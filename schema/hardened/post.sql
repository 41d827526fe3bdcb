-- hardened / post-data: keys, FKs, indexes, helpers, RLS, triggers, functions, the
-- materialized view and the vector index, built after the load (like pg_dump's
-- post-data section: building an index once is far cheaper than maintaining it per row).
--
-- Contract: one transaction, `SET LOCAL search_path = hardened, public`.
--
-- Function hygiene (what the review's functions lack), applied to every function here:
--   * SET search_path = '' and schema-qualified names, so a caller cannot redirect a
--     name to an object of their own (the classic SECURITY DEFINER hijack);
--   * EXECUTE revoked from PUBLIC (PostgreSQL grants it by default) and granted only to
--     the roles that need it;
--   * SECURITY DEFINER only where the function must do what its caller may not.
-- Function bodies name the schema `hardened`: a copy of this folder under another name
-- must rename it (there is no {{schema}} token).

-- =======================================================================================
-- Private schema for helpers (Supabase: never put SECURITY DEFINER functions in an
-- exposed schema). API roles get no USAGE on it, so they cannot call the helpers by
-- name; policies still can, because a stored policy refers to the function by OID and
-- only EXECUTE is checked when it runs. IF NOT EXISTS / OR REPLACE: this schema is not
-- dropped with `hardened`, so a re-applied variant must not trip over it.
-- =======================================================================================
CREATE SCHEMA IF NOT EXISTS hardened_private;
REVOKE ALL ON SCHEMA hardened_private FROM PUBLIC;

-- =======================================================================================
-- updated_at maintenance (kept from baseline; the review praises it)
-- =======================================================================================
CREATE OR REPLACE FUNCTION hardened_private.set_updated_at() RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
REVOKE EXECUTE ON FUNCTION hardened_private.set_updated_at() FROM PUBLIC;

CREATE TRIGGER set_updated_at BEFORE UPDATE ON organizations       FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON users               FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON projects            FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON dashboard_templates FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON datasets            FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON dashboards          FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON capabilities        FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON knowledge_bases     FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON documents           FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();
CREATE TRIGGER set_updated_at BEFORE UPDATE ON mcp_integrations    FOR EACH ROW EXECUTE FUNCTION hardened_private.set_updated_at();

-- =======================================================================================
-- Keys and foreign keys. One rule for ON DELETE: CASCADE for owned children (they
-- cannot exist without their parent), SET NULL for optional references (owner_id,
-- template_id, an optional project). Never the silent default NO ACTION.
-- Denormalised tenant columns (organization_id on datasets, dashboards, documents,
-- knowledge_bases, mcp_integrations) are pinned to their parent's by composite FKs, so
-- a row can never claim one organisation while hanging under another's parent.
-- =======================================================================================
ALTER TABLE projects        ADD CONSTRAINT projects_id_organization_id_key        UNIQUE (id, organization_id);
ALTER TABLE knowledge_bases ADD CONSTRAINT knowledge_bases_id_organization_id_key UNIQUE (id, organization_id);
ALTER TABLE project_members ADD CONSTRAINT project_members_project_id_user_id_key UNIQUE (project_id, user_id);

ALTER TABLE users ADD CONSTRAINT users_organization_id_fkey
  FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE projects ADD CONSTRAINT projects_organization_id_fkey
  FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE projects ADD CONSTRAINT projects_owner_id_fkey
  FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE project_members ADD CONSTRAINT project_members_project_id_fkey
  FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE;
ALTER TABLE project_members ADD CONSTRAINT project_members_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE dashboard_templates ADD CONSTRAINT dashboard_templates_organization_id_fkey
  FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE datasets ADD CONSTRAINT datasets_project_fkey
  FOREIGN KEY (project_id, organization_id) REFERENCES projects(id, organization_id) ON DELETE CASCADE;
ALTER TABLE dashboards ADD CONSTRAINT dashboards_project_fkey
  FOREIGN KEY (project_id, organization_id) REFERENCES projects(id, organization_id) ON DELETE CASCADE;
ALTER TABLE dashboards ADD CONSTRAINT dashboards_owner_id_fkey
  FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE dashboards ADD CONSTRAINT dashboards_template_id_fkey      -- the review's fk_dashboards_template, with a rule
  FOREIGN KEY (template_id) REFERENCES dashboard_templates(id) ON DELETE SET NULL;
ALTER TABLE dashboard_data_sources ADD CONSTRAINT dashboard_data_sources_dashboard_id_fkey
  FOREIGN KEY (dashboard_id) REFERENCES dashboards(id) ON DELETE CASCADE;
ALTER TABLE dashboard_data_sources ADD CONSTRAINT dashboard_data_sources_dataset_id_fkey
  FOREIGN KEY (dataset_id) REFERENCES datasets(id) ON DELETE CASCADE;
ALTER TABLE capabilities ADD CONSTRAINT capabilities_organization_id_fkey
  FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE capabilities ADD CONSTRAINT capabilities_owner_id_fkey
  FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE knowledge_bases ADD CONSTRAINT knowledge_bases_organization_id_fkey
  FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
-- SET NULL (project_id): only the optional column is cleared, organization_id stays.
ALTER TABLE knowledge_bases ADD CONSTRAINT knowledge_bases_project_fkey
  FOREIGN KEY (project_id, organization_id) REFERENCES projects(id, organization_id) ON DELETE SET NULL (project_id);
ALTER TABLE documents ADD CONSTRAINT documents_knowledge_base_fkey
  FOREIGN KEY (knowledge_base_id, organization_id) REFERENCES knowledge_bases(id, organization_id) ON DELETE CASCADE;
ALTER TABLE mcp_integrations ADD CONSTRAINT mcp_integrations_organization_id_fkey
  FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE mcp_integrations ADD CONSTRAINT mcp_integrations_project_fkey
  FOREIGN KEY (project_id, organization_id) REFERENCES projects(id, organization_id) ON DELETE SET NULL (project_id);
ALTER TABLE user_activity_log ADD CONSTRAINT user_activity_log_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE user_activity_log ADD CONSTRAINT user_activity_log_organization_id_fkey
  FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
-- audit_log: deliberately no FK (see pre.sql).

-- =======================================================================================
-- Indexes. Every column a policy filters on and every FK column is indexed (Supabase:
-- an unindexed policy column took 171 ms vs <0.1 ms on 100K rows; an unindexed FK turns
-- each parent delete into a scan of the child). Composite indexes serve the review's
-- query patterns; partial ones cover live rows only (WHERE deleted_at IS NULL) or the
-- published+approved marketplace.
-- =======================================================================================
CREATE INDEX users_organization_id_idx ON users (organization_id);

-- The review's composite; also the policy column (organization_id) and its FK.
CREATE INDEX projects_org_status_owner_idx ON projects (organization_id, status, owner_id);
CREATE INDEX projects_owner_id_idx ON projects (owner_id);
CREATE INDEX projects_live_recent_idx ON projects (organization_id, created_at DESC)
  WHERE deleted_at IS NULL;

-- The helpers look memberships up by user; INCLUDE makes it an index-only scan.
CREATE INDEX project_members_user_id_idx ON project_members (user_id) INCLUDE (project_id, role);

CREATE INDEX dashboard_templates_organization_id_idx ON dashboard_templates (organization_id);

CREATE INDEX datasets_project_idx ON datasets (project_id, organization_id);

CREATE INDEX dashboards_project_idx ON dashboards (project_id, organization_id);
CREATE INDEX dashboards_owner_id_idx ON dashboards (owner_id);
CREATE INDEX dashboards_template_id_idx ON dashboards (template_id);
CREATE INDEX dashboards_live_recent_idx ON dashboards (project_id, updated_at DESC)
  WHERE deleted_at IS NULL;

CREATE INDEX dashboard_data_sources_dataset_id_idx ON dashboard_data_sources (dataset_id);

CREATE INDEX capabilities_organization_id_idx ON capabilities (organization_id);
CREATE INDEX capabilities_owner_id_idx ON capabilities (owner_id);
-- The review's (category, status, featured) and its (category, status) WHERE deleted_at
-- IS NULL in one index: the second is a prefix of the first.
CREATE INDEX capabilities_live_category_status_featured_idx ON capabilities (category, status, featured)
  WHERE deleted_at IS NULL;
-- The review's idx_active_capabilities, also excluding archived (soft-deleted) rows.
CREATE INDEX capabilities_marketplace_idx ON capabilities (category, created_at DESC)
  WHERE status = 'published' AND approval_status = 'approved' AND deleted_at IS NULL;
-- Full-text search on the stored generated column (query: fts @@ websearch_to_tsquery('english', $1)).
CREATE INDEX capabilities_fts_idx ON capabilities USING gin (fts);

CREATE INDEX knowledge_bases_organization_id_idx ON knowledge_bases (organization_id);
CREATE INDEX knowledge_bases_project_id_idx ON knowledge_bases (project_id);

-- Policy column first; the pair also serves the composite FK (cascade from a knowledge base).
CREATE INDEX documents_org_kb_idx ON documents (organization_id, knowledge_base_id);
-- The review's composite, for live documents only.
CREATE INDEX documents_live_kb_type_language_idx ON documents (knowledge_base_id, document_type, language)
  WHERE deleted_at IS NULL;

CREATE INDEX mcp_integrations_organization_id_idx ON mcp_integrations (organization_id);
CREATE INDEX mcp_integrations_project_id_idx ON mcp_integrations (project_id);

-- Partitioned indexes (one per partition, created for future partitions too). The
-- review's idx_recent_activities wanted "recent rows per user": partition pruning on
-- "timestamp" gives that without a NOW() predicate.
CREATE INDEX user_activity_log_org_ts_idx ON user_activity_log (organization_id, "timestamp");
CREATE INDEX user_activity_log_user_ts_idx ON user_activity_log (user_id, "timestamp");

CREATE INDEX audit_log_org_ts_idx ON audit_log (organization_id, "timestamp" DESC);
CREATE INDEX audit_log_record_idx ON audit_log (table_name, record_id);

-- =======================================================================================
-- Security-definer helpers for the policies. They read users/project_members with the
-- owner's rights (no RLS recursion, no per-row policy on the looked-up table). Called as
-- `(SELECT helper())` in a policy, they run once per statement (an InitPlan), and
-- `col IN (SELECT helper_set())` becomes one hashed lookup, instead of the review's
-- per-row subqueries (Supabase: 11 s -> 7 ms for helpers in joins).
-- =======================================================================================

-- The caller's organisation (NULL without a valid user: every policy then denies).
CREATE OR REPLACE FUNCTION hardened_private.user_org_id() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT u.organization_id FROM hardened.users u WHERE u.id = auth.uid()
$$;

-- The caller's role in their organisation ('owner', 'admin', 'member').
CREATE OR REPLACE FUNCTION hardened_private.user_org_role() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT u.role::text FROM hardened.users u WHERE u.id = auth.uid()
$$;

CREATE OR REPLACE FUNCTION hardened_private.is_org_admin() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT coalesce((SELECT u.role IN ('owner', 'admin') FROM hardened.users u WHERE u.id = auth.uid()), false)
$$;

-- Projects the caller belongs to, optionally with one of `p_roles`. The project's
-- owner_id counts as role 'owner' (so a new project's owner can add the first members).
CREATE OR REPLACE FUNCTION hardened_private.user_project_ids(p_roles text[] DEFAULT NULL) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
ROWS 50
AS $$
  SELECT pm.project_id FROM hardened.project_members pm
  WHERE pm.user_id = auth.uid() AND (p_roles IS NULL OR pm.role = ANY (p_roles))
  UNION
  SELECT p.id FROM hardened.projects p
  WHERE p.owner_id = auth.uid() AND (p_roles IS NULL OR 'owner' = ANY (p_roles))
$$;

-- One project, for WITH CHECK on single-row writes.
CREATE OR REPLACE FUNCTION hardened_private.is_project_member(p_project_id uuid, p_roles text[] DEFAULT NULL) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT EXISTS (
           SELECT 1 FROM hardened.project_members pm
           WHERE pm.project_id = p_project_id AND pm.user_id = auth.uid()
             AND (p_roles IS NULL OR pm.role = ANY (p_roles)))
      OR EXISTS (
           SELECT 1 FROM hardened.projects p
           WHERE p.id = p_project_id AND p.owner_id = auth.uid()
             AND (p_roles IS NULL OR 'owner' = ANY (p_roles)))
$$;

REVOKE EXECUTE ON FUNCTION hardened_private.user_org_id(), hardened_private.user_org_role(),
  hardened_private.is_org_admin(), hardened_private.user_project_ids(text[]),
  hardened_private.is_project_member(uuid, text[]) FROM PUBLIC;
-- Policies run with the caller's privileges, so the role they apply to needs EXECUTE.
GRANT EXECUTE ON FUNCTION hardened_private.user_org_id(), hardened_private.user_org_role(),
  hardened_private.is_org_admin(), hardened_private.user_project_ids(text[]),
  hardened_private.is_project_member(uuid, text[]) TO authenticated;

-- =======================================================================================
-- Row level security: ENABLEd (the review forgot) and FORCEd on every tenant table, so
-- that not even the tables' owner reads around it (superusers and BYPASSRLS roles such
-- as service_role still do, by design). Per-command policies, all `TO authenticated`
-- (anon is denied without evaluating anything), `(SELECT auth.uid())` and wrapped helpers
-- (evaluated once per statement, not per row). No policy = denied for that command.
-- Soft-deleted rows stay visible to their tenant: PostgreSQL checks an UPDATE's new row
-- against the SELECT policies, so hiding deleted rows in a policy would make the soft
-- delete itself fail; live-row queries say `deleted_at IS NULL` (and use the partial
-- indexes).
-- =======================================================================================
ALTER TABLE organizations          ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations          FORCE ROW LEVEL SECURITY;
ALTER TABLE users                  ENABLE ROW LEVEL SECURITY;
ALTER TABLE users                  FORCE ROW LEVEL SECURITY;
ALTER TABLE projects               ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects               FORCE ROW LEVEL SECURITY;
ALTER TABLE project_members        ENABLE ROW LEVEL SECURITY;
ALTER TABLE project_members        FORCE ROW LEVEL SECURITY;
ALTER TABLE dashboard_templates    ENABLE ROW LEVEL SECURITY;
ALTER TABLE dashboard_templates    FORCE ROW LEVEL SECURITY;
ALTER TABLE datasets               ENABLE ROW LEVEL SECURITY;
ALTER TABLE datasets               FORCE ROW LEVEL SECURITY;
ALTER TABLE dashboards             ENABLE ROW LEVEL SECURITY;
ALTER TABLE dashboards             FORCE ROW LEVEL SECURITY;
ALTER TABLE dashboard_data_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE dashboard_data_sources FORCE ROW LEVEL SECURITY;
ALTER TABLE capabilities           ENABLE ROW LEVEL SECURITY;
ALTER TABLE capabilities           FORCE ROW LEVEL SECURITY;
ALTER TABLE knowledge_bases        ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_bases        FORCE ROW LEVEL SECURITY;
ALTER TABLE documents              ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents              FORCE ROW LEVEL SECURITY;
ALTER TABLE mcp_integrations       ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_integrations       FORCE ROW LEVEL SECURITY;
ALTER TABLE user_activity_log      ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_activity_log      FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_log              ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log              FORCE ROW LEVEL SECURITY;

-- organizations: members read their own; org owners/admins update it. Creating and
-- deleting organisations is back-office work (service_role).
CREATE POLICY organizations_select ON organizations FOR SELECT TO authenticated
  USING (id = (SELECT hardened_private.user_org_id()));
CREATE POLICY organizations_update ON organizations FOR UPDATE TO authenticated
  USING (id = (SELECT hardened_private.user_org_id()) AND (SELECT hardened_private.is_org_admin()))
  WITH CHECK (id = (SELECT hardened_private.user_org_id()));

-- users: colleagues are visible; a user updates only their own row, and only the columns
-- granted in pre.sql (full_name, preferences). The WITH CHECK repeats, as a second lock,
-- that organization_id and role keep their current values (the helpers read the row as
-- it was before this statement). Profiles are created and deleted by the back office.
CREATE POLICY users_select ON users FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY users_update_self ON users FOR UPDATE TO authenticated
  USING (id = (SELECT auth.uid()))
  WITH CHECK (id = (SELECT auth.uid())
              AND organization_id = (SELECT hardened_private.user_org_id())
              AND role = (SELECT hardened_private.user_org_role()));

-- projects: the review's org_member_access (org members read), plus the write policies it
-- lacks. Writes: project owners/admins or org owners/admins; a project never changes
-- organisation and its owner must be a colleague.
CREATE POLICY projects_select ON projects FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY projects_insert ON projects FOR INSERT TO authenticated
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND owner_id = (SELECT auth.uid()));
CREATE POLICY projects_update ON projects FOR UPDATE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         AND (id IN (SELECT hardened_private.user_project_ids('{owner,admin}'))
              OR (SELECT hardened_private.is_org_admin())))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND (owner_id IS NULL OR EXISTS (SELECT 1 FROM hardened.users u WHERE u.id = projects.owner_id)));
CREATE POLICY projects_delete ON projects FOR DELETE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         AND (id IN (SELECT hardened_private.user_project_ids('{owner,admin}'))
              OR (SELECT hardened_private.is_org_admin())));

-- project_members: a user sees their own memberships and the members of their projects;
-- project owners/admins manage members, who must be colleagues (the EXISTS reads users
-- under users' RLS, i.e. the caller's organisation); anyone may leave a project.
CREATE POLICY project_members_select ON project_members FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid())
         OR project_id IN (SELECT hardened_private.user_project_ids()));
CREATE POLICY project_members_insert ON project_members FOR INSERT TO authenticated
  WITH CHECK (project_id IN (SELECT hardened_private.user_project_ids('{owner,admin}'))
              AND EXISTS (SELECT 1 FROM hardened.users u WHERE u.id = project_members.user_id));
CREATE POLICY project_members_update ON project_members FOR UPDATE TO authenticated
  USING (project_id IN (SELECT hardened_private.user_project_ids('{owner,admin}')))
  WITH CHECK (project_id IN (SELECT hardened_private.user_project_ids('{owner,admin}'))
              AND EXISTS (SELECT 1 FROM hardened.users u WHERE u.id = project_members.user_id));
CREATE POLICY project_members_delete ON project_members FOR DELETE TO authenticated
  USING (project_id IN (SELECT hardened_private.user_project_ids('{owner,admin}'))
         OR user_id = (SELECT auth.uid()));

-- dashboard_templates: global templates (organization_id NULL) are readable by any
-- signed-in user of an organisation; an organisation's templates by its members.
CREATE POLICY dashboard_templates_select ON dashboard_templates FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         OR (organization_id IS NULL AND (SELECT hardened_private.user_org_id()) IS NOT NULL));
CREATE POLICY dashboard_templates_insert ON dashboard_templates FOR INSERT TO authenticated
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY dashboard_templates_update ON dashboard_templates FOR UPDATE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY dashboard_templates_delete ON dashboard_templates FOR DELETE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));

-- datasets: project members read, project editors and up write.
CREATE POLICY datasets_select ON datasets FOR SELECT TO authenticated
  USING (project_id IN (SELECT hardened_private.user_project_ids()));
CREATE POLICY datasets_insert ON datasets FOR INSERT TO authenticated
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND hardened_private.is_project_member(project_id, '{owner,admin,editor}'));
CREATE POLICY datasets_update ON datasets FOR UPDATE TO authenticated
  USING (project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}')))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND hardened_private.is_project_member(project_id, '{owner,admin,editor}'));
CREATE POLICY datasets_delete ON datasets FOR DELETE TO authenticated
  USING (project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}')));

-- dashboards: the review's project_member_access, split per command. Every member,
-- viewers included, reads (the review's FOR ALL hid dashboards from viewers); the
-- dashboard's owner and project editors and up write. A template must be one the caller
-- can see.
CREATE POLICY dashboards_select ON dashboards FOR SELECT TO authenticated
  USING (owner_id = (SELECT auth.uid())
         OR project_id IN (SELECT hardened_private.user_project_ids()));
CREATE POLICY dashboards_insert ON dashboards FOR INSERT TO authenticated
  WITH CHECK (owner_id = (SELECT auth.uid())
              AND organization_id = (SELECT hardened_private.user_org_id())
              AND hardened_private.is_project_member(project_id, '{owner,admin,editor}')
              AND (template_id IS NULL
                   OR EXISTS (SELECT 1 FROM hardened.dashboard_templates t WHERE t.id = dashboards.template_id)));
CREATE POLICY dashboards_update ON dashboards FOR UPDATE TO authenticated
  USING (owner_id = (SELECT auth.uid())
         OR project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}')))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND hardened_private.is_project_member(project_id)
              AND (template_id IS NULL
                   OR EXISTS (SELECT 1 FROM hardened.dashboard_templates t WHERE t.id = dashboards.template_id)));
CREATE POLICY dashboards_delete ON dashboards FOR DELETE TO authenticated
  USING (owner_id = (SELECT auth.uid())
         OR project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}')));

-- dashboard_data_sources: visible with its dashboard (the EXISTS runs under dashboards'
-- RLS; lookups go by dashboard_id, the PK's first column); managed by whoever may edit
-- the dashboard, and only with datasets the caller can see.
CREATE POLICY dashboard_data_sources_select ON dashboard_data_sources FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM hardened.dashboards d WHERE d.id = dashboard_data_sources.dashboard_id));
CREATE POLICY dashboard_data_sources_insert ON dashboard_data_sources FOR INSERT TO authenticated
  WITH CHECK (EXISTS (SELECT 1 FROM hardened.dashboards d
                      WHERE d.id = dashboard_data_sources.dashboard_id
                        AND (d.owner_id = (SELECT auth.uid())
                             OR hardened_private.is_project_member(d.project_id, '{owner,admin,editor}')))
              AND EXISTS (SELECT 1 FROM hardened.datasets s WHERE s.id = dashboard_data_sources.dataset_id));
CREATE POLICY dashboard_data_sources_delete ON dashboard_data_sources FOR DELETE TO authenticated
  USING (EXISTS (SELECT 1 FROM hardened.dashboards d
                 WHERE d.id = dashboard_data_sources.dashboard_id
                   AND (d.owner_id = (SELECT auth.uid())
                        OR hardened_private.is_project_member(d.project_id, '{owner,admin,editor}'))));

-- capabilities: a marketplace. Published, approved, live items are readable by every
-- signed-in user of an organisation (that is what a marketplace is: tenant-isolation
-- tests must expect those rows of other organisations); everything else only by its
-- organisation. New items start pending and unfeatured (moderation is service_role's;
-- the column grants in pre.sql keep approval_status/featured out of users' UPDATEs).
-- The item's owner or an org owner/admin edits and archives it.
CREATE POLICY capabilities_select ON capabilities FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         OR (status = 'published' AND approval_status = 'approved' AND deleted_at IS NULL
             AND (SELECT hardened_private.user_org_id()) IS NOT NULL));
CREATE POLICY capabilities_insert ON capabilities FOR INSERT TO authenticated
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND owner_id = (SELECT auth.uid())
              AND approval_status = 'pending' AND NOT featured);
CREATE POLICY capabilities_update ON capabilities FOR UPDATE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         AND (owner_id = (SELECT auth.uid()) OR (SELECT hardened_private.is_org_admin())))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY capabilities_delete ON capabilities FOR DELETE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         AND (owner_id = (SELECT auth.uid()) OR (SELECT hardened_private.is_org_admin())));

-- knowledge_bases: readable by the organisation; written by org owners/admins, or by
-- editors and up of the knowledge base's project.
CREATE POLICY knowledge_bases_select ON knowledge_bases FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY knowledge_bases_insert ON knowledge_bases FOR INSERT TO authenticated
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND ((SELECT hardened_private.is_org_admin())
                   OR project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}'))));
CREATE POLICY knowledge_bases_update ON knowledge_bases FOR UPDATE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         AND ((SELECT hardened_private.is_org_admin())
              OR project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}'))))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id())
              AND ((SELECT hardened_private.is_org_admin())
                   OR project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}'))));
CREATE POLICY knowledge_bases_delete ON knowledge_bases FOR DELETE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         AND ((SELECT hardened_private.is_org_admin())
              OR project_id IN (SELECT hardened_private.user_project_ids('{owner,admin,editor}'))));

-- documents: the organisation's members read and write them; the composite FK keeps a
-- document inside a knowledge base of its own organisation. One indexed equality, so
-- filtered vector search pays almost nothing for RLS.
CREATE POLICY documents_select ON documents FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY documents_insert ON documents FOR INSERT TO authenticated
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY documents_update ON documents FOR UPDATE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY documents_delete ON documents FOR DELETE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));

-- mcp_integrations: the organisation reads them (the secret is ciphertext); only org
-- owners/admins manage them.
CREATE POLICY mcp_integrations_select ON mcp_integrations FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY mcp_integrations_insert ON mcp_integrations FOR INSERT TO authenticated
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id()) AND (SELECT hardened_private.is_org_admin()));
CREATE POLICY mcp_integrations_update ON mcp_integrations FOR UPDATE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()) AND (SELECT hardened_private.is_org_admin()))
  WITH CHECK (organization_id = (SELECT hardened_private.user_org_id()));
CREATE POLICY mcp_integrations_delete ON mcp_integrations FOR DELETE TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()) AND (SELECT hardened_private.is_org_admin()));

-- user_activity_log: append-only for users (no UPDATE/DELETE policy); a user reads their
-- own activity, org owners/admins their organisation's.
CREATE POLICY user_activity_log_select ON user_activity_log FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id())
         AND (user_id = (SELECT auth.uid()) OR (SELECT hardened_private.is_org_admin())));
CREATE POLICY user_activity_log_insert ON user_activity_log FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid())
              AND organization_id = (SELECT hardened_private.user_org_id()));

-- audit_log: read-only, per organisation (written only by the trigger below).
CREATE POLICY audit_log_select ON audit_log FOR SELECT TO authenticated
  USING (organization_id = (SELECT hardened_private.user_org_id()));

-- =======================================================================================
-- Soft delete. SECURITY INVOKER: the caller's UPDATE privileges and RLS decide whose
-- capability may be archived (its owner or an org owner/admin), unlike the review's
-- SECURITY DEFINER version that anyone could call on any id. Returns whether a row was
-- archived (false: not found, not allowed, or already archived).
-- =======================================================================================
CREATE FUNCTION soft_delete_capability(capability_uuid uuid) RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
  UPDATE hardened.capabilities
     SET deleted_at = now(), status = 'archived'
   WHERE id = capability_uuid AND deleted_at IS NULL;
  RETURN FOUND;
END;
$$;
REVOKE EXECUTE ON FUNCTION soft_delete_capability(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION soft_delete_capability(uuid) TO authenticated, service_role;

-- =======================================================================================
-- Audit trail. The trigger function is SECURITY DEFINER (API users have no INSERT on
-- audit_log, yet their writes must be logged) with search_path ''. It redacts secrets
-- before they reach the log (the review's to_jsonb(NEW) copied the plaintext
-- credentials), finds the row's key generically (no NEW.id error on tables without id),
-- and stamps the organisation so that audit_log's RLS can scope it.
-- =======================================================================================

-- Replaces the value of every key that names a secret (at any depth: jsonb settings can
-- nest credentials) with "[REDACTED]". The key itself is kept: the log still shows that
-- the secret changed, not what it is.
CREATE OR REPLACE FUNCTION hardened_private.redact_secrets(j jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
DECLARE
  k text;
  v jsonb;
  result jsonb;
BEGIN
  IF j IS NULL THEN
    RETURN NULL;
  ELSIF jsonb_typeof(j) = 'object' THEN
    result := '{}'::jsonb;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(j) AS e LOOP
      IF k ~* '(password|passwd|secret|token|api[_-]?key|credential|private[_-]?key|authentication|ciphertext)' THEN
        result := result || jsonb_build_object(k, '[REDACTED]');
      ELSE
        result := result || jsonb_build_object(k, hardened_private.redact_secrets(v));
      END IF;
    END LOOP;
    RETURN result;
  ELSIF jsonb_typeof(j) = 'array' THEN
    RETURN (SELECT coalesce(jsonb_agg(hardened_private.redact_secrets(e.value) ORDER BY e.ord), '[]'::jsonb)
            FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, ord));
  END IF;
  RETURN j;
END;
$$;

CREATE OR REPLACE FUNCTION hardened_private.audit_row_change() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  v_old jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
  v_new jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
  v_row jsonb := coalesce(v_new, v_old);
  v_changed text[];
BEGIN
  IF TG_OP = 'UPDATE' THEN
    -- Names of changed columns (secret ones included: that they changed is not secret).
    SELECT array_agg(n.key ORDER BY n.key) INTO v_changed
    FROM jsonb_each(v_new) AS n
    WHERE n.value IS DISTINCT FROM v_old -> n.key;
  END IF;

  INSERT INTO hardened.audit_log
    (organization_id, table_name, record_id, operation, old_values, new_values, changed_fields, user_id)
  VALUES (
    coalesce((v_row ->> 'organization_id')::uuid, hardened_private.user_org_id()),
    TG_TABLE_NAME,
    CASE WHEN v_row ->> 'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
         THEN (v_row ->> 'id')::uuid END,
    TG_OP,
    hardened_private.redact_secrets(v_old),
    hardened_private.redact_secrets(v_new),
    v_changed,
    auth.uid()              -- NULL for back-office (service_role) and seeding writes
  );
  RETURN NULL;              -- AFTER trigger: the result is ignored
END;
$$;

REVOKE EXECUTE ON FUNCTION hardened_private.redact_secrets(jsonb), hardened_private.audit_row_change() FROM PUBLIC;

-- The same four tables as in `review`, so audit costs compare like for like. Created
-- after the load: seeding writes no audit rows.
CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON projects
  FOR EACH ROW EXECUTE FUNCTION hardened_private.audit_row_change();
CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON capabilities
  FOR EACH ROW EXECUTE FUNCTION hardened_private.audit_row_change();
CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON dashboards
  FOR EACH ROW EXECUTE FUNCTION hardened_private.audit_row_change();
CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON mcp_integrations
  FOR EACH ROW EXECUTE FUNCTION hardened_private.audit_row_change();

-- =======================================================================================
-- Materialized view. Same rows as the review's (published, not deleted, per category),
-- but the casts cannot fail: a non-numeric rating or download count counts as NULL
-- instead of aborting the refresh, and downloads sum as bigint (no integer overflow).
-- The unique index on category (no WHERE, no expression) is what
-- REFRESH MATERIALIZED VIEW CONCURRENTLY requires. A materialized view has no RLS: it
-- holds only marketplace-wide aggregates of published items, readable by signed-in roles.
-- =======================================================================================
CREATE MATERIALIZED VIEW mv_capability_stats AS
SELECT
  category,
  count(*) AS total_capabilities,
  avg(CASE WHEN metrics ->> 'rating' ~ '^[0-9]+(\.[0-9]+)?$'
           THEN (metrics ->> 'rating')::numeric END) AS avg_rating,
  sum(CASE WHEN metrics ->> 'downloads' ~ '^[0-9]{1,18}$'
           THEN (metrics ->> 'downloads')::bigint END) AS total_downloads
FROM capabilities
WHERE status = 'published' AND deleted_at IS NULL
GROUP BY category;

CREATE UNIQUE INDEX mv_capability_stats_category_key ON mv_capability_stats (category);

REVOKE ALL ON mv_capability_stats FROM PUBLIC;
GRANT SELECT ON mv_capability_stats TO authenticated, service_role;

-- SECURITY DEFINER because only the view's owner may refresh it; callable by
-- service_role only (a scheduled job), never by API users.
CREATE FUNCTION refresh_capability_stats() RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY hardened.mv_capability_stats;
END;
$$;
REVOKE EXECUTE ON FUNCTION refresh_capability_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_capability_stats() TO service_role;

-- =======================================================================================
-- Vector index, per pgvector's guidance: HNSW (better speed/recall trade-off than
-- IVFFlat, no training step, so it can be built on an empty or growing table), cosine
-- distance to match the normalised embeddings, the documented defaults m = 16,
-- ef_construction = 64. Built last, after the load. Query-time knobs, set per
-- transaction by the runner: hnsw.ef_search (default 40) for recall, and for filtered
-- search (WHERE organization_id / knowledge_base_id) hnsw.iterative_scan = relaxed_order
-- so that filters do not starve the result. The vector benchmark sweeps m,
-- ef_construction, ef_search and halfvec; one index only (the review keeps two).
-- The build's speed depends on maintenance_work_mem (the graph should fit in it, or
-- pgvector warns and slows down) and max_parallel_maintenance_workers: server settings
-- the harness controls and records, not this file.
-- =======================================================================================
CREATE INDEX documents_embedding_hnsw_idx ON documents
  USING hnsw (embedding_vector vector_cosine_ops)
  WITH (m = 16, ef_construction = 64);
