DROP INDEX idx_audit_logs_action;
DROP INDEX idx_audit_logs_created_at;
DROP INDEX idx_alters_name;
DROP INDEX idx_users_is_admin;
