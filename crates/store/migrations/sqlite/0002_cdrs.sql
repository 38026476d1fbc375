-- ferroswitch store, SQLite, migration 2: call detail records.
CREATE TABLE cdrs (
    id            TEXT    NOT NULL PRIMARY KEY,   -- call UUID
    caller        TEXT    NOT NULL,
    callee        TEXT    NOT NULL,
    a_call_id     TEXT    NOT NULL,
    start_ms      INTEGER NOT NULL,
    answer_ms     INTEGER,
    end_ms        INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,               -- end - start
    billable_ms   INTEGER NOT NULL,               -- end - answer, 0 if unanswered
    disposition   TEXT    NOT NULL,               -- answered, busy, no_answer, cancelled, declined, failed, interrupted
    hangup_side   TEXT    NOT NULL,               -- caller, callee, system
    hangup_cause  TEXT    NOT NULL,
    a_status      INTEGER NOT NULL,
    b_status      INTEGER NOT NULL,
    codec         TEXT,
    packets_to_a  INTEGER NOT NULL,
    packets_to_b  INTEGER NOT NULL
);
CREATE INDEX cdrs_start ON cdrs (start_ms);
CREATE INDEX cdrs_caller ON cdrs (caller, start_ms);
CREATE INDEX cdrs_callee ON cdrs (callee, start_ms);
