-- The documented performance indexes that are not on foreign-key columns
-- (those arrive with their tables: users.username, systems.user_id,
-- alters.system_id, audit_logs.user_id).
CREATE INDEX idx_users_is_admin ON users (is_admin);
CREATE INDEX idx_alters_name ON alters (name);
CREATE INDEX idx_audit_logs_created_at ON audit_logs (created_at);
CREATE INDEX idx_audit_logs_action ON audit_logs (action);
