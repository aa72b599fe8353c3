-- Group and subsystem names are unique within a system. SQLite and PostgreSQL compare
-- them byte for byte; under the tables' utf8mb4_unicode_ci MySQL took 'Ash', 'ash'
-- and 'Åsh' for one name, so a backup or `db copy` from SQLite or PostgreSQL holding
-- two of them in one system could not land here, and the API answered 409 here where
-- the others create the group. Here too the names now compare byte for byte (the
-- sort order of lists by name becomes the bytes' order, as on SQLite).
ALTER TABLE alter_groups
    MODIFY name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE subsystems
    MODIFY name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
