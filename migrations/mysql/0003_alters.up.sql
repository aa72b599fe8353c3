-- Alters (identities) of a system. interests is a JSON list of strings.
CREATE TABLE alters (
    id          CHAR(36)     NOT NULL,
    system_id   CHAR(36)     NOT NULL,
    name        VARCHAR(200) NOT NULL,
    pronouns    VARCHAR(100),
    description TEXT,
    age         VARCHAR(64),
    gender      VARCHAR(100),
    birthday    VARCHAR(64),
    species     VARCHAR(100),
    alter_type  VARCHAR(100),
    interests   JSON         NOT NULL,
    is_host     TINYINT(1)   NOT NULL DEFAULT 0,
    is_dormant  TINYINT(1)   NOT NULL DEFAULT 0,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    CONSTRAINT pk_alters PRIMARY KEY (id),
    CONSTRAINT fk_alters_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE,
    INDEX idx_alters_system_id (system_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
