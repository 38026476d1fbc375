-- ferroswitch store, PostgreSQL, migration 2: call detail records.
CREATE TABLE cdrs (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,   -- call UUID
    caller        TEXT    NOT NULL,
    callee        TEXT    NOT NULL,
    a_call_id     TEXT    NOT NULL,
    start_ms      BIGINT NOT NULL,
    answer_ms     BIGINT,
    end_ms        BIGINT NOT NULL,
    duration_ms   BIGINT NOT NULL,               -- end - start
    billable_ms   BIGINT NOT NULL,               -- end - answer, 0 if unanswered
    disposition   TEXT    NOT NULL,               -- answered, busy, no_answer, cancelled, declined, failed, interrupted
    hangup_side   TEXT    NOT NULL,               -- caller, callee, system
    hangup_cause  TEXT    NOT NULL,
    a_status      BIGINT NOT NULL,
    b_status      BIGINT NOT NULL,
    codec         TEXT,
    packets_to_a  BIGINT NOT NULL,
    packets_to_b  BIGINT NOT NULL
);
CREATE INDEX cdrs_start ON cdrs (start_ms);
CREATE INDEX cdrs_caller ON cdrs (caller, start_ms);
CREATE INDEX cdrs_callee ON cdrs (callee, start_ms);
