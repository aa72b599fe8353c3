-- Put each chosen spelling back, where it still spells the username.
UPDATE users
SET username = display_name
WHERE display_name IS NOT NULL AND lower(display_name) = username;

ALTER TABLE users DROP COLUMN display_name;
