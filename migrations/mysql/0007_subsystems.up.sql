-- Subsystems: named clusters of alters within a system, with members and leaders.
CREATE TABLE subsystems (
    id          CHAR(36)     NOT NULL,
    system_id   CHAR(36)     NOT NULL,
    name        VARCHAR(200) NOT NULL,
    description TEXT,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    CONSTRAINT pk_subsystems PRIMARY KEY (id),
    CONSTRAINT fk_subsystems_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE,
    INDEX idx_subsystems_system_id (system_id),
    UNIQUE INDEX idx_subsystems_system_name (system_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE subsystem_members (
    subsystem_id CHAR(36)    NOT NULL,
    alter_id     CHAR(36)    NOT NULL,
    is_leader    TINYINT(1)  NOT NULL DEFAULT 0,
    created_at   DATETIME(6) NOT NULL,
    CONSTRAINT pk_subsystem_members PRIMARY KEY (subsystem_id, alter_id),
    CONSTRAINT fk_subsystem_members_subsystem FOREIGN KEY (subsystem_id) REFERENCES subsystems (id) ON DELETE CASCADE,
    CONSTRAINT fk_subsystem_members_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE,
    INDEX idx_subsystem_members_alter_id (alter_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
