-- Instance settings, one JSON value per name ("key" is reserved in MySQL).
CREATE TABLE settings (
    name       VARCHAR(100) NOT NULL,
    value      JSONB        NOT NULL,
    updated_at TIMESTAMPTZ  NOT NULL,
    CONSTRAINT pk_settings PRIMARY KEY (name)
);
