-- Digital doorplates and their scan log (PostgreSQL).

CREATE TABLE doorplates (
    id            BIGINT PRIMARY KEY,
    serial        TEXT NOT NULL UNIQUE,
    address_code  TEXT NOT NULL,
    division_code TEXT NOT NULL,
    size          TEXT NOT NULL CHECK (size IN ('large', 'medium', 'small')),
    status        TEXT NOT NULL CHECK (status IN ('issued', 'replaced', 'revoked')),
    issued_at     TIMESTAMPTZ NOT NULL,
    issued_by     TEXT NOT NULL,
    replaces      BIGINT,
    replaced_by   BIGINT,
    ended_at      TIMESTAMPTZ,
    end_reason    TEXT
);
CREATE INDEX doorplates_address ON doorplates (address_code, id);

-- One row per scan of a genuine plate. No IP address is kept: client_hash is a keyed
-- hash of the client address and the day, so a client is countable within a day and
-- not traceable across days or back to an address.
CREATE TABLE doorplate_scans (
    id            BIGSERIAL PRIMARY KEY,
    plate_id      BIGINT NOT NULL,
    division_code TEXT NOT NULL,
    scanned_at_ms BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    format        TEXT NOT NULL,
    client_kind   TEXT NOT NULL,
    client_hash   TEXT NOT NULL
);
CREATE INDEX doorplate_scans_plate ON doorplate_scans (plate_id, id);
CREATE INDEX doorplate_scans_division ON doorplate_scans (division_code, scanned_at_ms);
