-- Relationships between two alters of the same system: partners, and parent and child.
--
-- Each relationship is stored once, in a canonical form, so that the primary key alone makes a
-- duplicate impossible whichever side it is expressed from:
--   * 'partner' is symmetric: stored with the smaller id in alter_id
--     (ck_alter_relationships_partner_order);
--   * 'parent': the row (alter_id, related_alter_id, 'parent') reads "related_alter_id is
--     alter_id's parent"; a child is stored as the parent relationship with the ids swapped.
-- No alter is related to itself (ck_alter_relationships_distinct). Deleting an alter deletes
-- its relationships on either side. The primary key serves lookups by alter_id;
-- idx_alter_relationships_related_alter_id serves the other side. That both alters belong to
-- the same system is the server's rule: a CHECK cannot look at another table.
CREATE TABLE alter_relationships (
    alter_id          UUID        NOT NULL,
    related_alter_id  UUID        NOT NULL,
    relationship_type VARCHAR(16) NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT pk_alter_relationships PRIMARY KEY (alter_id, related_alter_id, relationship_type),
    CONSTRAINT fk_alter_relationships_alter FOREIGN KEY (alter_id) REFERENCES alters (id) ON DELETE CASCADE,
    CONSTRAINT fk_alter_relationships_related_alter FOREIGN KEY (related_alter_id) REFERENCES alters (id) ON DELETE CASCADE,
    CONSTRAINT ck_alter_relationships_type CHECK (relationship_type IN ('partner', 'parent')),
    CONSTRAINT ck_alter_relationships_distinct CHECK (alter_id <> related_alter_id),
    CONSTRAINT ck_alter_relationships_partner_order CHECK (relationship_type <> 'partner' OR alter_id < related_alter_id)
);

CREATE INDEX idx_alter_relationships_related_alter_id ON alter_relationships (related_alter_id);
