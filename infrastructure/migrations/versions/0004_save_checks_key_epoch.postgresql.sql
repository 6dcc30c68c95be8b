-- casetrail_save takes p_key_epoch (RET-4): a case a process remembered rather
-- than read is refused when a customer key was destroyed since it was read.
DROP FUNCTION IF EXISTS __SCHEMA__.casetrail_save(uuid[], bigint[], text[], bytea[], uuid[], bigint[], timestamptz[], bytea[], boolean[], jsonb, jsonb, jsonb, text)
;
CREATE OR REPLACE FUNCTION __SCHEMA__.casetrail_save(
    p_ids uuid[], p_versions bigint[], p_topics text[], p_states bytea[], p_case uuid[], p_version bigint[], p_at timestamptz[], p_body bytea[], p_first boolean[], p_cases jsonb, p_holds jsonb, p_idem jsonb, p_lock_timeout text, p_key_epoch bigint DEFAULT NULL)
RETURNS SETOF bigint LANGUAGE plpgsql AS $save$
DECLARE
    prev text;
    prevs text[];
    hashes text[];
BEGIN
    IF p_key_epoch <> (SELECT epoch FROM __SCHEMA__.casetrail_key_state WHERE id = 1) THEN
        RAISE integrity_constraint_violation USING MESSAGE = 'customer keys were destroyed since this case was read; it is read again (RET-4)';
    END IF;
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
