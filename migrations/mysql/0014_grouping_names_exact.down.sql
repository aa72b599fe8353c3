-- Back to the tables' collation. While a system holds two group (or subsystem) names
-- that only that collation takes for one, this fails with a duplicate entry and
-- changes nothing: the old schema cannot hold both, so rename one first.
ALTER TABLE alter_groups
    MODIFY name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL;
ALTER TABLE subsystems
    MODIFY name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL;
