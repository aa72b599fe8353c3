-- A user's request to be granted system rights, and an admin's decision.
CREATE TABLE system_requests (
    id         UUID        NOT NULL,
    user_id    UUID        NOT NULL,
    status     VARCHAR(16) NOT NULL DEFAULT 'pending',
    note       TEXT,
    decided_by UUID,
    decided_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT pk_system_requests PRIMARY KEY (id),
    CONSTRAINT fk_system_requests_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_system_requests_decided_by FOREIGN KEY (decided_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT ck_system_requests_status CHECK (status IN ('pending', 'approved', 'rejected'))
);

CREATE INDEX idx_system_requests_user_id ON system_requests (user_id);
CREATE INDEX idx_system_requests_decided_by ON system_requests (decided_by);
CREATE INDEX idx_system_requests_status ON system_requests (status);
