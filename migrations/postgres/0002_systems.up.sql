-- A system belongs to one user and goes with it.
-- The foreign-key column is indexed here, with the table: MySQL insists on an
-- index for every foreign key and refuses to drop it later, so an index added
-- by a separate migration could never be reverted there.
CREATE TABLE systems (
    id          UUID         NOT NULL,
    user_id     UUID         NOT NULL,
    name        VARCHAR(200) NOT NULL,
    description TEXT,
    created_at  TIMESTAMPTZ  NOT NULL,
    updated_at  TIMESTAMPTZ  NOT NULL,
    CONSTRAINT pk_systems PRIMARY KEY (id),
    CONSTRAINT fk_systems_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX idx_systems_user_id ON systems (user_id);
