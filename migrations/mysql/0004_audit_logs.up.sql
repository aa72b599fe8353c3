-- Audit trail. Entries outlive the user they name (user_id becomes NULL).
CREATE TABLE audit_logs (
    id          CHAR(36)    NOT NULL,
    user_id     CHAR(36),
    action      VARCHAR(64) NOT NULL,
    entity_type VARCHAR(64),
    entity_id   VARCHAR(64),
    ip          VARCHAR(45),
    metadata    JSON        NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    CONSTRAINT pk_audit_logs PRIMARY KEY (id),
    CONSTRAINT fk_audit_logs_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL,
    INDEX idx_audit_logs_user_id (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
