-- Alters (identities) of a system. interests is a JSON list of strings.
CREATE TABLE alters (
    id          TEXT    NOT NULL,
    system_id   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    pronouns    TEXT,
    description TEXT,
    age         TEXT,
    gender      TEXT,
    birthday    TEXT,
    species     TEXT,
    alter_type  TEXT,
    interests   TEXT    NOT NULL CHECK (json_valid(interests)),
    is_host     INTEGER NOT NULL DEFAULT 0 CHECK (is_host IN (0, 1)),
    is_dormant  INTEGER NOT NULL DEFAULT 0 CHECK (is_dormant IN (0, 1)),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    CONSTRAINT pk_alters PRIMARY KEY (id),
    CONSTRAINT fk_alters_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE
);

CREATE INDEX idx_alters_system_id ON alters (system_id);
