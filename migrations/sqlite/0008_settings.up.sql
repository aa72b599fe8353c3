-- Instance settings, one JSON value per name ("key" is reserved in MySQL).
CREATE TABLE settings (
    name       TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL,
    CONSTRAINT pk_settings PRIMARY KEY (name)
);
