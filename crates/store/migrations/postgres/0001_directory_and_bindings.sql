-- ferroswitch store, PostgreSQL, migration 1: the directory and the location service.
-- Never edit a released migration: sqlx checks its checksum. Add a new file.
-- Keys are COLLATE "C" so that ORDER BY and keyset paging compare bytes,
-- exactly as SQLite does, whatever the database's default collation.

-- The directory. Credentials are HA1 digests only (RFC 7616 §3.4.2).
CREATE TABLE extensions (
    number           TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(number) BETWEEN 1 AND 32),
    display_name     TEXT    NOT NULL DEFAULT '',
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    caller_id_name   TEXT    NOT NULL DEFAULT '',
    caller_id_number TEXT    NOT NULL DEFAULT '',
    codecs           TEXT    NOT NULL DEFAULT '[]',   -- JSON array of names, preference order
    max_calls        BIGINT  NOT NULL DEFAULT 0 CHECK (max_calls BETWEEN 0 AND 4294967295), -- 0 = unlimited
    record           BOOLEAN NOT NULL DEFAULT FALSE,
    tags             TEXT    NOT NULL DEFAULT '{}',   -- JSON object
    ha1_md5          TEXT    NOT NULL,
    ha1_sha256       TEXT    NOT NULL,
    realm            TEXT    NOT NULL,
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL
);

-- One row; bumped in the same transaction as every extension write.
CREATE TABLE directory_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

-- Registration bindings (RFC 3261 §10.3, RFC 5626). No foreign key to
-- extensions: the location service also serves AORs that are not local
-- extensions; delete_extension removes an extension's bindings itself.
CREATE TABLE bindings (
    aor           TEXT COLLATE "C" NOT NULL,
    contact       TEXT COLLATE "C" NOT NULL,
    instance      TEXT,
    reg_id        BIGINT CHECK (reg_id BETWEEN 1 AND 2147483647),
    q             REAL   CHECK (q BETWEEN 0 AND 1),
    expires_at_ms BIGINT NOT NULL,
    call_id       TEXT   NOT NULL,
    cseq          BIGINT NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),
    transport     TEXT   NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls', 'ws', 'wss')),
    source        TEXT   NOT NULL,
    user_agent    TEXT,
    path          TEXT,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (aor, contact)
);
CREATE INDEX bindings_expires_at ON bindings (expires_at_ms);
