-- Accounts. Usernames are stored lower-case by the application, so the unique
-- index means the same thing on every backend whatever its collation.
CREATE TABLE users (
    id                   CHAR(36)     NOT NULL,
    username             VARCHAR(64)  NOT NULL,
    email                VARCHAR(255),
    password_hash        VARCHAR(255) NOT NULL,
    is_admin             TINYINT(1)   NOT NULL DEFAULT 0,
    is_system            TINYINT(1)   NOT NULL DEFAULT 0,
    is_approved          TINYINT(1)   NOT NULL DEFAULT 0,
    must_change_password TINYINT(1)   NOT NULL DEFAULT 0,
    avatar               VARCHAR(255),
    created_at           DATETIME(6)  NOT NULL,
    updated_at           DATETIME(6)  NOT NULL,
    last_login_at        DATETIME(6),
    CONSTRAINT pk_users PRIMARY KEY (id),
    UNIQUE INDEX idx_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
