-- The registry schema for PostgreSQL + PostGIS. Geometry is CGCS2000 (SRID 4490).

CREATE EXTENSION IF NOT EXISTS postgis;

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
    aliases        JSONB NOT NULL DEFAULT '[]',
    valid_from     DATE,
    valid_to       DATE,
    successor_code TEXT
);
CREATE INDEX divisions_parent ON divisions (parent_code);


CREATE TABLE division_polygons (
    code     TEXT PRIMARY KEY,
    geometry geometry(MultiPolygon, 4490) NOT NULL
);
CREATE INDEX division_polygons_geometry ON division_polygons USING GIST (geometry);

-- The whole division table in one compressed row, so a restart reads one row instead
-- of 665k. Derived from `divisions`; valid only while its version equals the
-- reference_data_version in meta.
CREATE TABLE division_snapshot (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version TEXT NOT NULL,
    data    BYTEA NOT NULL
);

CREATE TABLE code_serials (
    division_code TEXT PRIMARY KEY,
    last_serial   BIGINT NOT NULL
);

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
    aliases        JSONB NOT NULL DEFAULT '[]',
    lon            DOUBLE PRECISION,
    lat            DOUBLE PRECISION,
    status         TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    valid_from     TIMESTAMPTZ NOT NULL,
    valid_to       TIMESTAMPTZ,
    successor_code TEXT,
    retire_reason  TEXT,
    source_id      TEXT,
    version        BIGINT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    identity_key   TEXT NOT NULL,
    geom           geometry(Point, 4490) GENERATED ALWAYS AS (
                       CASE WHEN lon IS NOT NULL AND lat IS NOT NULL
                            THEN ST_SetSRID(ST_MakePoint(lon, lat), 4490) END
                   ) STORED
);
CREATE INDEX addresses_division ON addresses (division_code, code);
CREATE UNIQUE INDEX addresses_source_id ON addresses (source_id) WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX addresses_active_identity ON addresses (identity_key) WHERE status = 'active';
CREATE INDEX addresses_geom ON addresses USING GIST (geom);

CREATE TABLE address_versions (
    code        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    change      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    record      JSONB NOT NULL,
    PRIMARY KEY (code, version)
);

CREATE TABLE api_keys (
    id                TEXT PRIMARY KEY,
    secret_sha256_hex TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('reader', 'editor', 'surveyor', 'admin')),
    label             TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    revoked_at        TIMESTAMPTZ
);

CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before    JSONB,
    after     JSONB
);

-- The audit log and address history are append-only: the database itself refuses edits.
CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER address_versions_append_only BEFORE UPDATE OR DELETE ON address_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
