-- Accounts. Usernames are stored lower-case by the application, so the unique
-- index means the same thing on every backend whatever its collation.
CREATE TABLE users (
    id                   UUID         NOT NULL,
    username             VARCHAR(64)  NOT NULL,
    email                VARCHAR(255),
    password_hash        VARCHAR(255) NOT NULL,
    is_admin             BOOLEAN      NOT NULL DEFAULT FALSE,
    is_system            BOOLEAN      NOT NULL DEFAULT FALSE,
    is_approved          BOOLEAN      NOT NULL DEFAULT FALSE,
    must_change_password BOOLEAN      NOT NULL DEFAULT FALSE,
    avatar               VARCHAR(255),
    created_at           TIMESTAMPTZ  NOT NULL,
    updated_at           TIMESTAMPTZ  NOT NULL,
    last_login_at        TIMESTAMPTZ,
    CONSTRAINT pk_users PRIMARY KEY (id)
);

CREATE UNIQUE INDEX idx_users_username ON users (username);
