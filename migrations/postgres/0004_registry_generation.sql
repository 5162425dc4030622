-- A change counter for the address register. Every transaction that writes addresses
-- takes the next generation and stamps it on the rows it writes, so "the rows with a
-- generation above N" are exactly the addresses changed since N. Writers hold the
-- registry advisory lock until they commit, so generations become visible in order.
-- A replica's in-memory index and its snapshot file record the generation they
-- reflect and catch up from there. store_id tells one database from another, so a
-- snapshot taken from one is never applied to another.

CREATE TABLE registry_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store_id   TEXT NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO registry_state (id, store_id, generation) VALUES (1, md5(random()::text || clock_timestamp()::text), 0);

ALTER TABLE addresses ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
CREATE INDEX addresses_generation ON addresses (generation, code);
