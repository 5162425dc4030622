-- Boundary joint inspection (界线联检): the registered lines and markers, the dated
-- inspection rounds, what each round observed and submitted, and its stored report
-- (PostgreSQL). Lists (teams, landmarks, photos) are JSON text.

CREATE TABLE boundary_lines (
    line_id            TEXT PRIMARY KEY,
    name               TEXT,
    agreement          TEXT,
    marker_tolerance_m DOUBLE PRECISION NOT NULL,
    line_tolerance_m   DOUBLE PRECISION NOT NULL,
    -- GeoJSON LineString or MultiLineString, WGS84.
    official_geometry  TEXT,
    updated_at         TIMESTAMPTZ NOT NULL,
    updated_by         TEXT NOT NULL
);

CREATE TABLE boundary_markers (
    line_id     TEXT NOT NULL,
    number      TEXT NOT NULL,
    prefix      TEXT,
    sequence    BIGINT,
    suffix      TEXT,
    marker_type TEXT NOT NULL CHECK (marker_type IN ('single', 'pair', 'triple')),
    lon         DOUBLE PRECISION NOT NULL,
    lat         DOUBLE PRECISION NOT NULL,
    landmarks   TEXT NOT NULL,
    note        TEXT,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (line_id, number)
);

CREATE TABLE inspection_rounds (
    id         BIGSERIAL PRIMARY KEY,
    line_id    TEXT NOT NULL,
    date       DATE NOT NULL,
    teams      TEXT NOT NULL,
    note       TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX inspection_rounds_line ON inspection_rounds (line_id, date, id);

CREATE TABLE inspection_observations (
    round_id  BIGINT NOT NULL REFERENCES inspection_rounds (id),
    number    TEXT NOT NULL,
    lon       DOUBLE PRECISION,
    lat       DOUBLE PRECISION,
    condition TEXT NOT NULL CHECK (condition IN
        ('intact', 'damaged', 'missing', 'moved', 'inscription_faded', 'landmark_missing')),
    note      TEXT,
    photos    TEXT NOT NULL,
    PRIMARY KEY (round_id, number)
);

-- Surveyed tracks, and each side's submitted county outline, as GeoJSON (WGS84).
CREATE TABLE inspection_features (
    round_id BIGINT NOT NULL REFERENCES inspection_rounds (id),
    kind     TEXT NOT NULL CHECK (kind IN ('track', 'polygon_a', 'polygon_b')),
    position BIGINT NOT NULL,
    name     TEXT NOT NULL,
    geometry TEXT NOT NULL,
    PRIMARY KEY (round_id, kind, position)
);

CREATE TABLE inspection_reports (
    round_id       BIGINT PRIMARY KEY REFERENCES inspection_rounds (id),
    built_at       TIMESTAMPTZ NOT NULL,
    built_by       TEXT NOT NULL,
    report_json    TEXT NOT NULL,
    report_geojson TEXT NOT NULL,
    report_html    TEXT NOT NULL
);
