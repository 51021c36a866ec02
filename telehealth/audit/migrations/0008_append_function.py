"""On PostgreSQL an event is appended by one function call: it takes the chain's lock, reads
the tail, hashes and inserts the event and its subjects. One round trip where the lock, the
tail read, the two inserts and the transaction around them were five or six (see
`services._append_in_one_statement`). On PostgreSQL 15 and later, a hardened database
grants the application role EXECUTE on it (docs/security.md).

The hash is computed from the canonical JSON the application built, split around the place
of the previous hash: the application still decides what is hashed, and `verify_audit` checks
it with the same Python code as before. SQLite (the embedded default) keeps the Python path."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_append(
    p_lock_class integer, p_lock_key integer, p_chain bigint,
    p_head text, p_tail text,
    p_hash_version smallint, p_occurred_at timestamptz, p_actor_id bigint,
    p_actor_label varchar, p_role varchar, p_action varchar,
    p_object_type varchar, p_object_id varchar, p_patient_id bigint,
    p_detail varchar, p_ip inet, p_user_agent varchar,
    p_subject_types varchar[], p_subject_ids varchar[], p_subject_patients bigint[]
) RETURNS TABLE (event_id bigint, previous_hash varchar, hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_previous varchar;
    v_hash varchar;
    v_id bigint;
BEGIN
    -- The lock first, in a statement of its own: under READ COMMITTED each statement of a
    -- function takes a new snapshot, so the tail read next sees every event committed before
    -- the lock was ours. A REPEATABLE READ or SERIALIZABLE transaction keeps its first
    -- snapshot and would link to a stale tail, forking the chain: refused.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit_append needs READ COMMITTED, not %',
            current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    PERFORM pg_advisory_xact_lock(p_lock_class, p_lock_key);
    SELECT e.hash INTO v_previous FROM audit_auditevent e
        WHERE e.chain = p_chain ORDER BY e.id DESC LIMIT 1;
    v_previous := coalesce(v_previous, repeat('0', 64));
    v_hash := encode(sha256(convert_to(p_head || v_previous || p_tail, 'UTF8')), 'hex');
    INSERT INTO audit_auditevent (
        chain, hash_version, occurred_at, actor_id, actor_label, role, action, object_type,
        object_id, patient_id, detail, ip, user_agent, previous_hash, hash
    ) VALUES (
        p_chain, p_hash_version, p_occurred_at, p_actor_id, p_actor_label, p_role, p_action,
        p_object_type, p_object_id, p_patient_id, p_detail, p_ip, p_user_agent, v_previous,
        v_hash
    ) RETURNING id INTO v_id;
    INSERT INTO audit_auditsubject (event_id, object_type, object_id, patient_id)
        SELECT v_id, s.object_type, s.object_id, s.patient_id
        FROM unnest(p_subject_types, p_subject_ids, p_subject_patients)
            AS s (object_type, object_id, patient_id);
    RETURN QUERY SELECT v_id, v_previous, v_hash;
END;
$$;
"""

DROP = "DROP FUNCTION IF EXISTS audit_append(integer, integer, bigint, text, text, smallint, \
timestamptz, bigint, varchar, varchar, varchar, varchar, varchar, bigint, varchar, inet, varchar, \
varchar[], varchar[], bigint[]);"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_drop_redundant_indexes")]

    operations = [migrations.RunPython(create_function, drop_function)]
