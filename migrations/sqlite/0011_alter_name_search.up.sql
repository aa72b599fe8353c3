-- Case-insensitive name prefix search (GET /api/alters?q=) uses idx_alters_name.
-- SQLite's LIKE ignores ASCII case, and its LIKE optimisation needs the index to
-- compare the same way: NOCASE.
DROP INDEX idx_alters_name;
CREATE INDEX idx_alters_name ON alters (name COLLATE NOCASE);
