-- Instance settings, one JSON value per name ("key" is reserved in MySQL).
CREATE TABLE settings (
    name       VARCHAR(100) NOT NULL,
    value      JSON         NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    CONSTRAINT pk_settings PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
