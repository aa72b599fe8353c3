//! `MY001`, atomicity on MySQL: a data change (INSERT, UPDATE, DELETE, REPLACE) in a file
//! that also runs DDL, which MySQL commits statement by statement.

use super::{Context, Hit, Rule};
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "MY001",
    dialects: &[Backend::MySql],
    in_down: true,
    title: "DDL and data changes in one file",
    reason: "MySQL commits every DDL statement on its own, so a file that mixes DDL with \
             INSERT/UPDATE/DELETE is not atomic: when the data change fails, the DDL before \
             it stays and the migration is left dirty. Put the data change in a migration of \
             its own, or make it one statement that valid data cannot make fail.",
    check: mysql_ddl_and_data,
};

const DDL: [&str; 5] = ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"];
const DATA: [&str; 4] = ["INSERT", "UPDATE", "DELETE", "REPLACE"];

fn mysql_ddl_and_data(cx: &Context<'_>) -> Vec<Hit> {
    let verb = cx.statement().verb();
    if !DATA.contains(&verb.as_str()) {
        return Vec::new();
    }
    cx.statements
        .iter()
        .find(|s| DDL.contains(&s.verb().as_str()))
        .map(|ddl| {
            vec![cx.hit(format!(
                "{verb} in a file that also runs DDL ({} at line {})",
                ddl.verb(),
                ddl.line
            ))]
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, down, silenced, up};
    use didhub_migrations::Backend;

    #[test]
    fn my001_flags_data_changes_in_a_file_with_ddl() {
        let sql = "-- 'UPDATE' in a comment is no statement\nALTER TABLE users ADD COLUMN x INT;\n\
                   UPDATE users SET x = 1;\nINSERT INTO log VALUES ('DROP TABLE');\n";
        assert_eq!(up(Backend::MySql, "MY001", sql), [3, 4]);
        assert_eq!(down(Backend::MySql, "MY001", sql), [3, 4]);
        silenced(Backend::MySql, "MY001", sql);
        let data_only = "UPDATE users SET x = 1;\nDELETE FROM log;";
        assert_eq!(up(Backend::MySql, "MY001", data_only), NONE);
        assert_eq!(up(Backend::Postgres, "MY001", sql), NONE);
    }
}
