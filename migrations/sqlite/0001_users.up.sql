-- Accounts. Usernames are stored lower-case by the application, so the unique
-- index means the same thing on every backend whatever its collation.
CREATE TABLE users (
    id                   TEXT    NOT NULL,
    username             TEXT    NOT NULL,
    email                TEXT,
    password_hash        TEXT    NOT NULL,
    is_admin             INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    is_system            INTEGER NOT NULL DEFAULT 0 CHECK (is_system IN (0, 1)),
    is_approved          INTEGER NOT NULL DEFAULT 0 CHECK (is_approved IN (0, 1)),
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    avatar               TEXT,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    last_login_at        TEXT,
    CONSTRAINT pk_users PRIMARY KEY (id)
);

CREATE UNIQUE INDEX idx_users_username ON users (username);
