-- Usernames are compared lower-case: the server lower-cases them on registration
-- and login, and the unique index relies on it (0001). Rows written before that
-- rule (imported from an older DIDHub, restored from an old backup) may hold
-- capitals, and then nobody can log in as them. Lower-case them, and keep the
-- spelling the person chose in display_name (NULL where the username already was
-- lower-case), so that the down can put it back.
--
-- Two accounts that differ only in case cannot both be lower-cased: the unique
-- index refuses, and the migration fails without changing anything. Rename one
-- of them first.
--
-- SQLite's lower() folds ASCII only, which is all a valid username holds.
ALTER TABLE users ADD COLUMN display_name TEXT;

UPDATE users
SET display_name = username,
    username = lower(username)
WHERE username <> lower(username);
