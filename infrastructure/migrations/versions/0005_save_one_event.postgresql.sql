-- casetrail_save_one: the save of one event (most commands) with the event and
-- its link as plain values; casetrail_save (arrays) keeps saves of several.
CREATE OR REPLACE FUNCTION __SCHEMA__.casetrail_save_one(
    p_id uuid, p_version bigint, p_topic text, p_state bytea, p_at timestamptz, p_body bytea, p_cases jsonb, p_holds jsonb, p_idem jsonb, p_lock_timeout text, p_key_epoch bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $save$
DECLARE
    seq bigint;
    prev text;
BEGIN
    IF p_key_epoch <> (SELECT epoch FROM __SCHEMA__.casetrail_key_state WHERE id = 1) THEN
        RAISE integrity_constraint_violation USING MESSAGE = 'customer keys were destroyed since this case was read; it is read again (RET-4)';
    END IF;
    INSERT INTO __SCHEMA__.casetrail_cases (case_id, case_type, version, status, level, category, customer_id, customer_name, department, title, opened_at, updated_at, closed_at, retain_until, erased_at) SELECT case_id, case_type, version, status, level, category, customer_id, customer_name, department, title, opened_at, updated_at, closed_at, retain_until, erased_at FROM jsonb_populate_recordset(NULL::__SCHEMA__.casetrail_cases, p_cases) ON CONFLICT (case_id) DO UPDATE SET case_type = excluded.case_type, version = excluded.version, status = excluded.status, level = excluded.level, category = excluded.category, customer_id = excluded.customer_id, customer_name = excluded.customer_name, department = excluded.department, title = excluded.title, opened_at = excluded.opened_at, updated_at = excluded.updated_at, closed_at = excluded.closed_at, retain_until = excluded.retain_until, erased_at = excluded.erased_at WHERE excluded.version > __SCHEMA__.casetrail_cases.version;
    INSERT INTO __SCHEMA__.casetrail_holds (hold_id, case_id, customer_id, reason, placed_at, released_at) SELECT hold_id, case_id, customer_id, reason, placed_at, released_at FROM jsonb_populate_recordset(NULL::__SCHEMA__.casetrail_holds, p_holds) ON CONFLICT (hold_id) DO UPDATE SET released_at = excluded.released_at;
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    LOCK TABLE __SCHEMA__."casetrail_events" IN EXCLUSIVE MODE;
    NOTIFY "casetrail_events";
    INSERT INTO __SCHEMA__."casetrail_events" (originator_id, originator_version, topic, state)
        VALUES (p_id, p_version, p_topic, p_state) RETURNING notification_id INTO seq;
    prev := coalesce((SELECT hash FROM __SCHEMA__.casetrail_chain WHERE case_id = p_id
                      AND version = p_version - 1), '0000000000000000000000000000000000000000000000000000000000000000');
    INSERT INTO __SCHEMA__.casetrail_chain (case_id, version, recorded_at, prev_hash, hash)
        VALUES (p_id, p_version, p_at, prev,
                encode(sha256(decode(prev, 'hex') || p_body), 'hex'));
    IF p_idem IS NOT NULL THEN
        INSERT INTO __SCHEMA__.casetrail_idempotency SELECT * FROM jsonb_populate_record(NULL::__SCHEMA__.casetrail_idempotency, p_idem);
    END IF;
    RETURN seq;
END
$save$
;
