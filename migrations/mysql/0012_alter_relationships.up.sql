-- Relationships between two alters of the same system: partners, and parent and child.
--
-- Each relationship is stored once, in a canonical form, so that the primary key alone makes a
-- duplicate impossible whichever side it is expressed from:
--   * 'partner' is symmetric: stored with the smaller id in alter_id;
--   * 'parent': the row (alter_id, related_alter_id, 'parent') reads "related_alter_id is
--     alter_id's parent"; a child is stored as the parent relationship with the ids swapped.
-- Deleting an alter deletes its relationships on either side. The primary key serves lookups
-- by alter_id (and is the index InnoDB needs for fk_alter_relationships_alter);
-- idx_alter_relationships_related_alter_id serves the other side.
--
-- Unlike SQLite and PostgreSQL, this table has no ck_alter_relationships_distinct (no
-- self-links) and no ck_alter_relationships_partner_order: MySQL 8 refuses a CHECK on a column
-- that a foreign key's ON DELETE CASCADE uses (error 3823), and the cascade matters more. The
-- server enforces both rules before it inserts; fixtures/parity-allow.toml records the
-- difference. (A trigger could enforce them, but with binary logging on, creating a trigger
-- needs SUPER unless log_bin_trust_function_creators is set, which managed databases rarely
-- allow.)
CREATE TABLE alter_relationships (
    alter_id          CHAR(36)    NOT NULL,
    related_alter_id  CHAR(36)    NOT NULL,
    relationship_type VARCHAR(16) NOT NULL,
    created_at        DATETIME(6) NOT NULL,
    CONSTRAINT pk_alter_relationships PRIMARY KEY (alter_id, related_alter_id, relationship_type),
    CONSTRAINT fk_alter_relationships_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE,
    CONSTRAINT fk_alter_relationships_related_alter FOREIGN KEY (related_alter_id) REFERENCES alters (id) ON DELETE CASCADE,
    CONSTRAINT ck_alter_relationships_type CHECK (relationship_type IN ('partner', 'parent')),
    INDEX idx_alter_relationships_related_alter_id (related_alter_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
