-- Usernames are compared lower-case: the server lower-cases them on registration
-- and login, and the unique index relies on it (0001). Rows written before that
-- rule (imported from an older DIDHub, restored from an old backup) may hold
-- capitals, and then nobody can log in as them. Lower-case them, and keep the
-- spelling the person chose in display_name (NULL where the username already was
-- lower-case), so that the down can put it back. (Under the column's _ci
-- collation two usernames that differ only in case cannot exist, so the UPDATE
-- cannot collide with the unique index here.)
--
-- The ALTER commits on its own (MySQL DDL is not transactional); the data change
-- is one UPDATE after it, all or nothing.
--
-- The comparison is binary: under utf8mb4_unicode_ci, 'Alice' <> 'alice' is
-- false. MySQL assigns left to right, so display_name takes the username before
-- it is lower-cased.
ALTER TABLE users ADD COLUMN display_name VARCHAR(64) NULL;

UPDATE users
SET display_name = username,
    username = LOWER(username)
WHERE username <> LOWER(username) COLLATE utf8mb4_bin;
