-- casetrail 0.1.0's schema as `db init` made it (SQLite); statements end at a line holding only ';'.
CREATE TABLE IF NOT EXISTS stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))
;
CREATE TABLE IF NOT EXISTS casetrail_idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status_code INTEGER NOT NULL, case_id TEXT NOT NULL, case_version INTEGER NOT NULL, created_at TEXT NOT NULL, response TEXT, PRIMARY KEY (scope, key)) WITHOUT ROWID
;
CREATE TABLE IF NOT EXISTS casetrail_cases (case_id TEXT PRIMARY KEY, case_type TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL, level TEXT, category TEXT, customer_id TEXT, customer_name TEXT, department TEXT NOT NULL, title TEXT NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL, closed_at TEXT, retain_until TEXT, erased_at TEXT)
;
CREATE INDEX IF NOT EXISTS casetrail_cases_by_customer ON casetrail_cases (customer_id)
;
CREATE INDEX IF NOT EXISTS casetrail_cases_by_retention ON casetrail_cases (retain_until)
;
CREATE TABLE IF NOT EXISTS casetrail_holds (hold_id TEXT PRIMARY KEY, case_id TEXT, customer_id TEXT, reason TEXT NOT NULL, placed_at TEXT NOT NULL, released_at TEXT)
;
CREATE INDEX IF NOT EXISTS casetrail_cases_by_type_opened ON casetrail_cases (case_type, opened_at DESC, case_id DESC)
;
CREATE TABLE IF NOT EXISTS casetrail_chain (case_id TEXT NOT NULL, version INTEGER NOT NULL, recorded_at TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (case_id, version)) WITHOUT ROWID
;
CREATE TABLE IF NOT EXISTS casetrail_checkpoints (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, signature TEXT NOT NULL, key_fingerprint TEXT NOT NULL)
;
CREATE TABLE IF NOT EXISTS casetrail_customer_keys (customer_id text PRIMARY KEY, wrapped_key text NOT NULL)
;
CREATE TABLE IF NOT EXISTS casetrail_key_state (id integer PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL, kek_version integer NOT NULL, rotated_epoch INTEGER NOT NULL)
;
INSERT INTO casetrail_key_state VALUES (1, 0, 1, 0) ON CONFLICT DO NOTHING
;
CREATE TABLE IF NOT EXISTS casetrail_report_runs (kind TEXT NOT NULL, period TEXT NOT NULL, produced_at TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (kind, period))
;
CREATE TABLE IF NOT EXISTS stored_snapshots (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID
;
CREATE TABLE IF NOT EXISTS tracking (application_name TEXT, notification_id INTEGER, PRIMARY KEY (application_name)) WITHOUT ROWID
;
CREATE TABLE IF NOT EXISTS casetrail_obligations (case_id TEXT NOT NULL, key TEXT NOT NULL, case_type TEXT NOT NULL, department TEXT NOT NULL, rule TEXT NOT NULL, level TEXT, description TEXT NOT NULL, responsible TEXT NOT NULL, started_at TEXT NOT NULL, due_at TEXT NOT NULL, warn_at TEXT NOT NULL, met_at TEXT, met_by_version INTEGER, void_by_version INTEGER, breach_version INTEGER, warning_version INTEGER, state TEXT NOT NULL, case_version INTEGER NOT NULL, sweep_breach_at TEXT, sweep_warn_at TEXT, met_recorded_at TEXT, PRIMARY KEY (case_id, key))
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_breach ON casetrail_obligations (sweep_breach_at)
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_warn ON casetrail_obligations (sweep_warn_at)
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_due ON casetrail_obligations (due_at, case_id, key)
;
CREATE INDEX IF NOT EXISTS casetrail_obligations_rule_due ON casetrail_obligations (rule, due_at)
;
INSERT INTO tracking VALUES ('__migration__', 1) ON CONFLICT (application_name) DO UPDATE SET notification_id = 1 WHERE tracking.notification_id < 1
;
CREATE TABLE IF NOT EXISTS casetrail_outbox (delivery_id TEXT PRIMARY KEY, target TEXT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at TEXT NOT NULL, claimed_until TEXT, created_at TEXT NOT NULL, delivered_at TEXT, last_error TEXT)
;
CREATE INDEX IF NOT EXISTS casetrail_outbox_due ON casetrail_outbox (status, next_attempt_at)
;
CREATE TABLE IF NOT EXISTS casetrail_delivery_log (delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at TEXT NOT NULL, status_code INTEGER, error TEXT, PRIMARY KEY (delivery_id, attempt))
;
CREATE TABLE IF NOT EXISTS casetrail_audit (seq BIGINT PRIMARY KEY, case_id TEXT NOT NULL, version BIGINT NOT NULL, event_type TEXT NOT NULL, recorded_at TEXT NOT NULL, actor TEXT NOT NULL, roles TEXT NOT NULL, command TEXT NOT NULL, correlation_id TEXT NOT NULL)
;
CREATE INDEX IF NOT EXISTS casetrail_audit_actor ON casetrail_audit (actor, seq)
;
CREATE INDEX IF NOT EXISTS casetrail_audit_case ON casetrail_audit (case_id, seq)
;
CREATE INDEX IF NOT EXISTS casetrail_audit_time ON casetrail_audit (recorded_at)
;
CREATE TABLE IF NOT EXISTS casetrail_report_facts (case_id TEXT, case_type TEXT, department TEXT, category TEXT, level TEXT, service_step TEXT, status TEXT, opened_at TEXT, resolved_at TEXT, report_on_time INTEGER, plan_on_time INTEGER, resolution_on_time INTEGER, satisfaction INTEGER, overdue INTEGER, closed INTEGER, overall_score TEXT, satisfaction_rate TEXT, loyalty TEXT, favourable_rate TEXT, PRIMARY KEY (case_id))
;
CREATE INDEX IF NOT EXISTS casetrail_report_facts_type_opened ON casetrail_report_facts (case_type, opened_at)
;
CREATE TABLE IF NOT EXISTS casetrail_library (case_id TEXT, category TEXT, level TEXT, service_step TEXT, special TEXT, archived_at TEXT, root_cause TEXT, lessons TEXT, measures TEXT, body TEXT, PRIMARY KEY (case_id))
;
CREATE VIRTUAL TABLE IF NOT EXISTS casetrail_library_fts USING fts5(case_id UNINDEXED, body, tokenize = 'trigram')
;
