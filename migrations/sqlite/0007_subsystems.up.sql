-- Subsystems: named clusters of alters within a system, with members and leaders.
CREATE TABLE subsystems (
    id          TEXT NOT NULL,
    system_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT pk_subsystems PRIMARY KEY (id),
    CONSTRAINT fk_subsystems_system FOREIGN KEY (system_id) REFERENCES systems (id) ON DELETE CASCADE
);

CREATE INDEX idx_subsystems_system_id ON subsystems (system_id);
CREATE UNIQUE INDEX idx_subsystems_system_name ON subsystems (system_id, name);

CREATE TABLE subsystem_members (
    subsystem_id TEXT    NOT NULL,
    alter_id     TEXT    NOT NULL,
    is_leader    INTEGER NOT NULL DEFAULT 0 CHECK (is_leader IN (0, 1)),
    created_at   TEXT    NOT NULL,
    CONSTRAINT pk_subsystem_members PRIMARY KEY (subsystem_id, alter_id),
    CONSTRAINT fk_subsystem_members_subsystem FOREIGN KEY (subsystem_id) REFERENCES subsystems (id) ON DELETE CASCADE,
    CONSTRAINT fk_subsystem_members_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE
);

CREATE INDEX idx_subsystem_members_alter_id ON subsystem_members (alter_id);
