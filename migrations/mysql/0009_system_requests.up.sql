-- A user's request to be granted system rights, and an admin's decision.
CREATE TABLE system_requests (
    id         CHAR(36)    NOT NULL,
    user_id    CHAR(36)    NOT NULL,
    status     VARCHAR(16) NOT NULL DEFAULT 'pending',
    note       TEXT,
    decided_by CHAR(36),
    decided_at DATETIME(6),
    created_at DATETIME(6) NOT NULL,
    CONSTRAINT pk_system_requests PRIMARY KEY (id),
    CONSTRAINT fk_system_requests_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_system_requests_decided_by FOREIGN KEY (decided_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT ck_system_requests_status CHECK (status IN ('pending', 'approved', 'rejected')),
    INDEX idx_system_requests_user_id (user_id),
    INDEX idx_system_requests_decided_by (decided_by),
    INDEX idx_system_requests_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
