DROP INDEX idx_audit_logs_action ON audit_logs;
DROP INDEX idx_audit_logs_created_at ON audit_logs;
DROP INDEX idx_alters_name ON alters;
DROP INDEX idx_users_is_admin ON users;
