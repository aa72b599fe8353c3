DROP INDEX idx_alters_name;
CREATE INDEX idx_alters_name ON alters (name);
