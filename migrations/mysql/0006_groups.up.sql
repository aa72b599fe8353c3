-- Groups (affiliations) of alters within a system. "groups" is reserved in
-- MySQL 8, hence alter_groups.
CREATE TABLE alter_groups (
    id          CHAR(36)     NOT NULL,
    system_id   CHAR(36)     NOT NULL,
    name        VARCHAR(200) NOT NULL,
    description TEXT,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    CONSTRAINT pk_alter_groups PRIMARY KEY (id),
    CONSTRAINT fk_alter_groups_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE,
    INDEX idx_alter_groups_system_id (system_id),
    UNIQUE INDEX idx_alter_groups_system_name (system_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE alter_group_members (
    group_id   CHAR(36)    NOT NULL,
    alter_id   CHAR(36)    NOT NULL,
    is_leader  TINYINT(1)  NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT pk_alter_group_members PRIMARY KEY (group_id, alter_id),
    CONSTRAINT fk_alter_group_members_group FOREIGN KEY (group_id) REFERENCES alter_groups (id) ON DELETE CASCADE,
    CONSTRAINT fk_alter_group_members_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE,
    INDEX idx_alter_group_members_alter_id (alter_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
