-- Subsystems: named clusters of alters within a system, with members and leaders.
CREATE TABLE subsystems (
    id          UUID         NOT NULL,
    system_id   UUID         NOT NULL,
    name        VARCHAR(200) NOT NULL,
    description TEXT,
    created_at  TIMESTAMPTZ  NOT NULL,
    updated_at  TIMESTAMPTZ  NOT NULL,
    CONSTRAINT pk_subsystems PRIMARY KEY (id),
    CONSTRAINT fk_subsystems_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE
);

CREATE INDEX idx_subsystems_system_id ON subsystems (system_id);
CREATE UNIQUE INDEX idx_subsystems_system_name ON subsystems (system_id, name);

CREATE TABLE subsystem_members (
    subsystem_id UUID        NOT NULL,
    alter_id     UUID        NOT NULL,
    is_leader    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT pk_subsystem_members PRIMARY KEY (subsystem_id, alter_id),
    CONSTRAINT fk_subsystem_members_subsystem FOREIGN KEY (subsystem_id) REFERENCES subsystems (id) ON DELETE CASCADE,
    CONSTRAINT fk_subsystem_members_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE
);

CREATE INDEX idx_subsystem_members_alter_id ON subsystem_members (alter_id);
