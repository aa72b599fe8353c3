-- Groups (affiliations) of alters within a system. "groups" is reserved in
-- MySQL 8, hence alter_groups.
CREATE TABLE alter_groups (
    id          UUID         NOT NULL,
    system_id   UUID         NOT NULL,
    name        VARCHAR(200) NOT NULL,
    description TEXT,
    created_at  TIMESTAMPTZ  NOT NULL,
    updated_at  TIMESTAMPTZ  NOT NULL,
    CONSTRAINT pk_alter_groups PRIMARY KEY (id),
    CONSTRAINT fk_alter_groups_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE
);

CREATE INDEX idx_alter_groups_system_id ON alter_groups (system_id);
CREATE UNIQUE INDEX idx_alter_groups_system_name ON alter_groups (system_id, name);

CREATE TABLE alter_group_members (
    group_id   UUID        NOT NULL,
    alter_id   UUID        NOT NULL,
    is_leader  BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT pk_alter_group_members PRIMARY KEY (group_id, alter_id),
    CONSTRAINT fk_alter_group_members_group FOREIGN KEY (group_id) REFERENCES alter_groups (id) ON DELETE CASCADE,
    CONSTRAINT fk_alter_group_members_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE
);

CREATE INDEX idx_alter_group_members_alter_id ON alter_group_members (alter_id);
