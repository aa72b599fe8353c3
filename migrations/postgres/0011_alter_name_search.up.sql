-- Case-insensitive name prefix search (GET /api/alters?q=) uses idx_alters_name.
-- The server matches LOWER(name) LIKE 'prefix%'; text_pattern_ops lets a B-tree
-- serve LIKE whatever the database's collation.
DROP INDEX idx_alters_name;
CREATE INDEX idx_alters_name ON alters (lower(name) text_pattern_ops);
