//! The document's tags: the group each operation is listed under.

use poem_openapi::Tags;

#[derive(Tags)]
pub(super) enum Tag {
    /// Health and version
    Service,
    /// Registration, login and the caller's own account
    Auth,
    /// User administration (admins only)
    Users,
    /// Systems
    Systems,
    /// Alters
    Alters,
    /// Groups (affiliations): named sets of alters within a system, with leaders
    Groups,
    /// Subsystems: named clusters of alters within a system, with leaders
    Subsystems,
    /// Relationships between alters of one system (partner, parent, child)
    Relationships,
    /// Requests for system rights, and administrators' decisions on them
    SystemRequests,
    /// The audit log (admins only)
    Audit,
    /// Backup and restore of the whole instance (admins only)
    Admin,
    /// Instance settings (admins only)
    Settings,
    /// Password reset by single-use, expiring token
    PasswordReset,
}
