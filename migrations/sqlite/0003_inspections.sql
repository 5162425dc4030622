-- Boundary joint inspection (界线联检): the registered lines and markers, the dated
-- inspection rounds, what each round observed and submitted, and its stored report
-- (embedded store). Lists (teams, landmarks, photos) are JSON text.

CREATE TABLE boundary_lines (
    line_id            TEXT PRIMARY KEY,
    name               TEXT,
    agreement          TEXT,
    marker_tolerance_m REAL NOT NULL,
    line_tolerance_m   REAL NOT NULL,
    -- GeoJSON LineString or MultiLineString, WGS84.
    official_geometry  TEXT,
    updated_at         TEXT NOT NULL,
    updated_by         TEXT NOT NULL
);

CREATE TABLE boundary_markers (
    line_id     TEXT NOT NULL,
    number      TEXT NOT NULL,
    prefix      TEXT,
    sequence    INTEGER,
    suffix      TEXT,
    marker_type TEXT NOT NULL CHECK (marker_type IN ('single', 'pair', 'triple')),
    lon         REAL NOT NULL,
    lat         REAL NOT NULL,
    landmarks   TEXT NOT NULL,
    note        TEXT,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (line_id, number)
);

CREATE TABLE inspection_rounds (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    line_id    TEXT NOT NULL,
    date       TEXT NOT NULL,
    teams      TEXT NOT NULL,
    note       TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX inspection_rounds_line ON inspection_rounds (line_id, date, id);

CREATE TABLE inspection_observations (
    round_id  INTEGER NOT NULL REFERENCES inspection_rounds (id),
    number    TEXT NOT NULL,
    lon       REAL,
    lat       REAL,
    condition TEXT NOT NULL CHECK (condition IN
        ('intact', 'damaged', 'missing', 'moved', 'inscription_faded', 'landmark_missing')),
    note      TEXT,
    photos    TEXT NOT NULL,
    PRIMARY KEY (round_id, number)
);

-- Surveyed tracks, and each side's submitted county outline, as GeoJSON (WGS84).
CREATE TABLE inspection_features (
    round_id INTEGER NOT NULL REFERENCES inspection_rounds (id),
    kind     TEXT NOT NULL CHECK (kind IN ('track', 'polygon_a', 'polygon_b')),
    position INTEGER NOT NULL,
    name     TEXT NOT NULL,
    geometry TEXT NOT NULL,
    PRIMARY KEY (round_id, kind, position)
);

CREATE TABLE inspection_reports (
    round_id       INTEGER PRIMARY KEY REFERENCES inspection_rounds (id),
    built_at       TEXT NOT NULL,
    built_by       TEXT NOT NULL,
    report_json    TEXT NOT NULL,
    report_geojson TEXT NOT NULL,
    report_html    TEXT NOT NULL
);
