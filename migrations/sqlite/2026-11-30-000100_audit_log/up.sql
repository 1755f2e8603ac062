-- The audit trail: one row per audited change, written in the change's own
-- transaction. Append-only: triggers refuse UPDATE and DELETE. No foreign keys, so
-- an entry outlives what it names. Never holds a secret: objects by id only.
CREATE TABLE audit_log (
    id               TEXT PRIMARY KEY NOT NULL,
    at               BIGINT NOT NULL,
    actor_scope      TEXT NOT NULL,
    actor_key_id     TEXT,
    actor_user_id    TEXT,
    action           TEXT NOT NULL,
    object_type      TEXT NOT NULL,
    object_id        TEXT NOT NULL,
    subject_user_id  TEXT,
    request_id       TEXT
);

-- Listings are newest first by id (time-ordered); each filter has an index that
-- yields its rows in that order.
CREATE INDEX audit_log_actor_user ON audit_log (actor_user_id, id);
CREATE INDEX audit_log_subject_user ON audit_log (subject_user_id, id);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
