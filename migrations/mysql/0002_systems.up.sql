-- A system belongs to one user and goes with it.
-- The foreign-key column is indexed here, with the table: MySQL insists on an
-- index for every foreign key and refuses to drop it later, so an index added
-- by a separate migration could never be reverted there.
CREATE TABLE systems (
    id          CHAR(36)     NOT NULL,
    user_id     CHAR(36)     NOT NULL,
    name        VARCHAR(200) NOT NULL,
    description TEXT,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    CONSTRAINT pk_systems PRIMARY KEY (id),
    CONSTRAINT fk_systems_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    INDEX idx_systems_user_id (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
