-- The current version of an address is its row in `addresses`; `address_versions`
-- receives a version when a later one supersedes it. Writing every version there as
-- well doubled what an import wrote (the versions were half of a 1M-row store).
-- change_kind and changed_by say how the current version came about. They are NULL
-- on rows last written before this migration: those rows' current version is already
-- in address_versions.

ALTER TABLE addresses ADD COLUMN change_kind TEXT;
ALTER TABLE addresses ADD COLUMN changed_by TEXT;
