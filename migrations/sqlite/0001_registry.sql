-- The registry schema for the embedded store. Timestamps are RFC 3339 text (UTC).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE divisions (
    code           TEXT PRIMARY KEY CHECK (length(code) = 12),
    name           TEXT NOT NULL,
    short_name     TEXT,
    level          TEXT NOT NULL CHECK (level IN ('province', 'city', 'county', 'town', 'village')),
    parent_code    TEXT,
    aliases        TEXT NOT NULL DEFAULT '[]',
    valid_from     TEXT,
    valid_to       TEXT,
    successor_code TEXT
) WITHOUT ROWID;
CREATE INDEX divisions_parent ON divisions (parent_code);


CREATE TABLE division_polygons (
    code     TEXT PRIMARY KEY,
    geometry TEXT NOT NULL  -- GeoJSON geometry, CGCS2000 lon/lat
);

-- The whole division table in one compressed row, so a restart reads one row instead
-- of 665k. Derived from `divisions`; valid only while its version equals the
-- reference_data_version in meta.
CREATE TABLE division_snapshot (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version TEXT NOT NULL,
    data    BLOB NOT NULL
);

CREATE TABLE code_serials (
    division_code TEXT PRIMARY KEY,
    last_serial   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE addresses (
    code           TEXT PRIMARY KEY CHECK (length(code) = 20),
    division_code  TEXT NOT NULL,
    road           TEXT,
    road_no        TEXT,
    place          TEXT,
    building       TEXT,
    unit           TEXT,
    floor          TEXT,
    room           TEXT,
    standard_text  TEXT NOT NULL,
    aliases        TEXT NOT NULL DEFAULT '[]',
    lon            REAL,
    lat            REAL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    valid_from     TEXT NOT NULL,
    valid_to       TEXT,
    successor_code TEXT,
    retire_reason  TEXT,
    source_id      TEXT,
    version        INTEGER NOT NULL,
    updated_at     TEXT NOT NULL,
    identity_key   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX addresses_division ON addresses (division_code, code);
CREATE UNIQUE INDEX addresses_source_id ON addresses (source_id) WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX addresses_active_identity ON addresses (identity_key) WHERE status = 'active';

CREATE TABLE address_versions (
    code        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    change      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    record      TEXT NOT NULL,  -- the whole address as JSON
    PRIMARY KEY (code, version)
) WITHOUT ROWID;

CREATE TABLE api_keys (
    id                TEXT PRIMARY KEY,
    secret_sha256_hex TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('reader', 'editor', 'surveyor', 'admin')),
    label             TEXT,
    created_at        TEXT NOT NULL,
    revoked_at        TEXT
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before    TEXT,
    after     TEXT
);

-- The audit log and address history are append-only: the database itself refuses edits.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER address_versions_no_update BEFORE UPDATE ON address_versions
BEGIN SELECT RAISE(ABORT, 'address_versions is append-only'); END;
CREATE TRIGGER address_versions_no_delete BEFORE DELETE ON address_versions
BEGIN SELECT RAISE(ABORT, 'address_versions is append-only'); END;
