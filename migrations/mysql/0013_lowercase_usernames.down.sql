-- Put each chosen spelling back, where it still spells the username (a binary
-- comparison: under the column's _ci collation any casing would match). The
-- UPDATE runs before the DDL, which commits it.
UPDATE users
SET username = display_name
WHERE display_name IS NOT NULL AND LOWER(display_name) = username COLLATE utf8mb4_bin;

ALTER TABLE users DROP COLUMN display_name;
