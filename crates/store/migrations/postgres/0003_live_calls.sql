-- ferroswitch store, PostgreSQL, migration 3: calls in progress, so a crash
-- leaves a trace: at start, leftover rows become CDRs marked interrupted.
CREATE TABLE live_calls (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    caller     TEXT    NOT NULL,
    callee     TEXT    NOT NULL,
    a_call_id  TEXT    NOT NULL,
    start_ms   BIGINT NOT NULL,
    answer_ms  BIGINT
);
