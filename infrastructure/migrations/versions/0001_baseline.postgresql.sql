-- casetrail 0.1.0's schema as `db init` made it (PostgreSQL; __SCHEMA__ is the configured schema); statements end at a line holding only ';'.
CREATE SCHEMA IF NOT EXISTS __SCHEMA__
;
DO $$ BEGIN CREATE TYPE __SCHEMA__."stored_event_uuid" AS (originator_id "uuid", originator_version bigint, topic text, state bytea); EXCEPTION WHEN duplicate_object THEN NULL; END $$
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_events" (originator_id "uuid" NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version)) WITH (    autovacuum_enabled = true,    autovacuum_vacuum_threshold = 100000000,    autovacuum_vacuum_scale_factor = 0.5,    autovacuum_analyze_threshold = 1000,    autovacuum_analyze_scale_factor = 0.01)
;
CREATE UNIQUE INDEX IF NOT EXISTS "casetrail_events_notification_id_idx" ON __SCHEMA__."casetrail_events" (notification_id ASC);
;
CREATE OR REPLACE FUNCTION __SCHEMA__."es_insert_events_uuid"(events __SCHEMA__."stored_event_uuid"[]) RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$BEGIN    SET LOCAL lock_timeout = '5s';    NOTIFY "casetrail_events";    RETURN QUERY    INSERT INTO __SCHEMA__."casetrail_events" AS t (    originator_id, originator_version, topic, state)    SELECT originator_id, originator_version, topic, state    FROM unnest(events)    RETURNING notification_id;END;$BODY$
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_idempotency" (scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, status_code integer NOT NULL, case_id uuid NOT NULL, case_version bigint NOT NULL, created_at timestamptz NOT NULL, response text, PRIMARY KEY (scope, key))
;
ALTER TABLE __SCHEMA__."casetrail_idempotency" ADD COLUMN IF NOT EXISTS response text
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_cases" (case_id uuid PRIMARY KEY, case_type text NOT NULL, version bigint NOT NULL, status text NOT NULL, level text, category text, customer_id text, customer_name text, department text NOT NULL, title text NOT NULL, opened_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, closed_at timestamptz, retain_until timestamptz, erased_at timestamptz)
;
CREATE INDEX IF NOT EXISTS casetrail_cases_by_customer_id ON __SCHEMA__."casetrail_cases" (customer_id)
;
CREATE INDEX IF NOT EXISTS casetrail_cases_by_retain_until ON __SCHEMA__."casetrail_cases" (retain_until)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_holds" (hold_id uuid PRIMARY KEY, case_id text, customer_id text, reason text NOT NULL, placed_at timestamptz NOT NULL, released_at timestamptz)
;
CREATE INDEX IF NOT EXISTS "casetrail_cases_by_type_opened" ON __SCHEMA__."casetrail_cases" (case_type, opened_at DESC, case_id DESC)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_chain" (case_id uuid NOT NULL, version bigint NOT NULL, recorded_at timestamptz, prev_hash text NOT NULL, hash text NOT NULL, PRIMARY KEY (case_id, version))
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_report_runs" (kind text NOT NULL, period text NOT NULL, produced_at timestamptz NOT NULL, payload text NOT NULL, PRIMARY KEY (kind, period))
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_customer_keys" (customer_id text PRIMARY KEY, wrapped_key text NOT NULL)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_key_state" (id integer PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, kek_version integer NOT NULL, rotated_epoch bigint NOT NULL)
;
INSERT INTO __SCHEMA__."casetrail_key_state" VALUES (1, 0, 1, 0) ON CONFLICT DO NOTHING
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_checkpoints" (seq bigserial PRIMARY KEY, payload text NOT NULL, signature text NOT NULL, key_fingerprint text NOT NULL)
;
DROP FUNCTION IF EXISTS __SCHEMA__.casetrail_save(__SCHEMA__."stored_event_uuid"[], uuid[], bigint[], timestamptz[], bytea[], boolean[], jsonb, jsonb, jsonb, text)
;
CREATE OR REPLACE FUNCTION __SCHEMA__.casetrail_save(
    p_ids uuid[], p_versions bigint[], p_topics text[], p_states bytea[], p_case uuid[], p_version bigint[], p_at timestamptz[], p_body bytea[], p_first boolean[], p_cases jsonb, p_holds jsonb, p_idem jsonb, p_lock_timeout text)
RETURNS SETOF bigint LANGUAGE plpgsql AS $save$
DECLARE
    prev text;
    prevs text[];
    hashes text[];
BEGIN
    INSERT INTO __SCHEMA__.casetrail_cases (case_id, case_type, version, status, level, category, customer_id, customer_name, department, title, opened_at, updated_at, closed_at, retain_until, erased_at) SELECT case_id, case_type, version, status, level, category, customer_id, customer_name, department, title, opened_at, updated_at, closed_at, retain_until, erased_at FROM jsonb_populate_recordset(NULL::__SCHEMA__.casetrail_cases, p_cases) ON CONFLICT (case_id) DO UPDATE SET case_type = excluded.case_type, version = excluded.version, status = excluded.status, level = excluded.level, category = excluded.category, customer_id = excluded.customer_id, customer_name = excluded.customer_name, department = excluded.department, title = excluded.title, opened_at = excluded.opened_at, updated_at = excluded.updated_at, closed_at = excluded.closed_at, retain_until = excluded.retain_until, erased_at = excluded.erased_at WHERE excluded.version > __SCHEMA__.casetrail_cases.version;
    INSERT INTO __SCHEMA__.casetrail_holds (hold_id, case_id, customer_id, reason, placed_at, released_at) SELECT hold_id, case_id, customer_id, reason, placed_at, released_at FROM jsonb_populate_recordset(NULL::__SCHEMA__.casetrail_holds, p_holds) ON CONFLICT (hold_id) DO UPDATE SET released_at = excluded.released_at;
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    LOCK TABLE __SCHEMA__."casetrail_events" IN EXCLUSIVE MODE;
    NOTIFY "casetrail_events";
    RETURN QUERY INSERT INTO __SCHEMA__."casetrail_events" (originator_id, originator_version, topic, state)
        SELECT * FROM unnest(p_ids, p_versions, p_topics, p_states)
        RETURNING notification_id;
    FOR i IN 1 .. coalesce(array_length(p_case, 1), 0) LOOP
        IF p_first[i] THEN
            prev := coalesce((SELECT hash FROM __SCHEMA__.casetrail_chain WHERE case_id = p_case[i]
                              AND version = p_version[i] - 1), '0000000000000000000000000000000000000000000000000000000000000000');
        END IF;
        prevs[i] := prev;
        prev := encode(sha256(decode(prev, 'hex') || p_body[i]), 'hex');
        hashes[i] := prev;
    END LOOP;
    INSERT INTO __SCHEMA__.casetrail_chain (case_id, version, recorded_at, prev_hash, hash)
        SELECT * FROM unnest(p_case, p_version, p_at, prevs, hashes);
    IF p_idem IS NOT NULL THEN
        INSERT INTO __SCHEMA__.casetrail_idempotency SELECT * FROM jsonb_populate_record(NULL::__SCHEMA__.casetrail_idempotency, p_idem);
    END IF;
END
$save$
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_snapshots" (originator_id "uuid" NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, PRIMARY KEY (originator_id, originator_version)) WITH (    autovacuum_enabled = true,    autovacuum_vacuum_threshold = 100000000,    autovacuum_vacuum_scale_factor = 0.5,    autovacuum_analyze_threshold = 1000,    autovacuum_analyze_scale_factor = 0.01)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_obligations_tracking" (application_name text, notification_id bigint, PRIMARY KEY (application_name))WITH (    autovacuum_enabled = true,    autovacuum_vacuum_threshold = 100000000,    autovacuum_vacuum_scale_factor = 0.5,    autovacuum_analyze_threshold = 1000,    autovacuum_analyze_scale_factor = 0.01)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_obligations" (case_id uuid NOT NULL, key text NOT NULL, case_type text NOT NULL, department text NOT NULL, rule text NOT NULL, level text, description text NOT NULL, responsible text NOT NULL, started_at timestamptz NOT NULL, due_at timestamptz NOT NULL, warn_at timestamptz NOT NULL, met_at timestamptz, met_by_version bigint, void_by_version bigint, breach_version bigint, warning_version bigint, state text NOT NULL, case_version bigint NOT NULL, sweep_breach_at timestamptz, sweep_warn_at timestamptz, met_recorded_at timestamptz, PRIMARY KEY (case_id, key))
;
ALTER TABLE __SCHEMA__."casetrail_obligations" ADD COLUMN IF NOT EXISTS met_recorded_at timestamptz
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_breach ON __SCHEMA__."casetrail_obligations" (sweep_breach_at)
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_warn ON __SCHEMA__."casetrail_obligations" (sweep_warn_at)
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_due ON __SCHEMA__."casetrail_obligations" (due_at, case_id, key)
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_rule_due ON __SCHEMA__."casetrail_obligations" (rule, due_at)
;
INSERT INTO __SCHEMA__."casetrail_obligations_tracking" VALUES ('__migration__', 1) ON CONFLICT (application_name) DO UPDATE SET notification_id = 1 WHERE __SCHEMA__."casetrail_obligations_tracking".notification_id < 1
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_outbox_tracking" (application_name text, notification_id bigint, PRIMARY KEY (application_name))WITH (    autovacuum_enabled = true,    autovacuum_vacuum_threshold = 100000000,    autovacuum_vacuum_scale_factor = 0.5,    autovacuum_analyze_threshold = 1000,    autovacuum_analyze_scale_factor = 0.01)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_outbox" (delivery_id TEXT PRIMARY KEY, target TEXT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at timestamptz NOT NULL, claimed_until timestamptz, created_at timestamptz NOT NULL, delivered_at timestamptz, last_error TEXT)
;
CREATE INDEX IF NOT EXISTS casetrail_outbox_due ON __SCHEMA__."casetrail_outbox" (status, next_attempt_at)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_delivery_log" (delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at timestamptz NOT NULL, status_code INTEGER, error TEXT, PRIMARY KEY (delivery_id, attempt))
;
INSERT INTO __SCHEMA__."casetrail_outbox_tracking" VALUES ('__migration__', 1) ON CONFLICT (application_name) DO UPDATE SET notification_id = 1 WHERE __SCHEMA__."casetrail_outbox_tracking".notification_id < 1
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_audit_tracking" (application_name text, notification_id bigint, PRIMARY KEY (application_name))WITH (    autovacuum_enabled = true,    autovacuum_vacuum_threshold = 100000000,    autovacuum_vacuum_scale_factor = 0.5,    autovacuum_analyze_threshold = 1000,    autovacuum_analyze_scale_factor = 0.01)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_audit" (seq BIGINT PRIMARY KEY, case_id uuid NOT NULL, version BIGINT NOT NULL, event_type TEXT NOT NULL, recorded_at timestamptz NOT NULL, actor TEXT NOT NULL, roles TEXT NOT NULL, command TEXT NOT NULL, correlation_id TEXT NOT NULL)
;
CREATE INDEX IF NOT EXISTS casetrail_audit_actor ON __SCHEMA__."casetrail_audit" (actor, seq)
;
CREATE INDEX IF NOT EXISTS casetrail_audit_case ON __SCHEMA__."casetrail_audit" (case_id, seq)
;
CREATE INDEX IF NOT EXISTS casetrail_audit_time ON __SCHEMA__."casetrail_audit" (recorded_at)
;
INSERT INTO __SCHEMA__."casetrail_audit_tracking" VALUES ('__migration__', 1) ON CONFLICT (application_name) DO UPDATE SET notification_id = 1 WHERE __SCHEMA__."casetrail_audit_tracking".notification_id < 1
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_report_facts_tracking" (application_name text, notification_id bigint, PRIMARY KEY (application_name))WITH (    autovacuum_enabled = true,    autovacuum_vacuum_threshold = 100000000,    autovacuum_vacuum_scale_factor = 0.5,    autovacuum_analyze_threshold = 1000,    autovacuum_analyze_scale_factor = 0.01)
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_report_facts" (case_id uuid, case_type TEXT, department TEXT, category TEXT, level TEXT, service_step TEXT, status TEXT, opened_at timestamptz, resolved_at timestamptz, report_on_time boolean, plan_on_time boolean, resolution_on_time boolean, satisfaction INTEGER, overdue boolean, closed boolean, overall_score TEXT, satisfaction_rate TEXT, loyalty TEXT, favourable_rate TEXT, PRIMARY KEY (case_id))
;
CREATE INDEX IF NOT EXISTS casetrail_report_facts_type_opened ON __SCHEMA__."casetrail_report_facts" (case_type, opened_at)
;
INSERT INTO __SCHEMA__."casetrail_report_facts_tracking" VALUES ('__migration__', 1) ON CONFLICT (application_name) DO UPDATE SET notification_id = 1 WHERE __SCHEMA__."casetrail_report_facts_tracking".notification_id < 1
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_library_tracking" (application_name text, notification_id bigint, PRIMARY KEY (application_name))WITH (    autovacuum_enabled = true,    autovacuum_vacuum_threshold = 100000000,    autovacuum_vacuum_scale_factor = 0.5,    autovacuum_analyze_threshold = 1000,    autovacuum_analyze_scale_factor = 0.01)
;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public
;
CREATE TABLE IF NOT EXISTS __SCHEMA__."casetrail_library" (case_id uuid, category text, level text, service_step text, special text, archived_at timestamptz, root_cause text, lessons text, measures text, body text, PRIMARY KEY (case_id))
;
CREATE INDEX IF NOT EXISTS casetrail_library_trgm ON __SCHEMA__."casetrail_library" USING gin (body public.gin_trgm_ops)
;
INSERT INTO __SCHEMA__."casetrail_library_tracking" VALUES ('__migration__', 1) ON CONFLICT (application_name) DO UPDATE SET notification_id = 1 WHERE __SCHEMA__."casetrail_library_tracking".notification_id < 1
;
