-- Alters (identities) of a system. interests is a JSON list of strings.
CREATE TABLE alters (
    id          UUID         NOT NULL,
    system_id   UUID         NOT NULL,
    name        VARCHAR(200) NOT NULL,
    pronouns    VARCHAR(100),
    description TEXT,
    age         VARCHAR(64),
    gender      VARCHAR(100),
    birthday    VARCHAR(64),
    species     VARCHAR(100),
    alter_type  VARCHAR(100),
    interests   JSONB        NOT NULL,
    is_host     BOOLEAN      NOT NULL DEFAULT FALSE,
    is_dormant  BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ  NOT NULL,
    updated_at  TIMESTAMPTZ  NOT NULL,
    CONSTRAINT pk_alters PRIMARY KEY (id),
    CONSTRAINT fk_alters_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE
);

CREATE INDEX idx_alters_system_id ON alters (system_id);
