//! `MY003`: a table, column, constraint or index named by a word MySQL 8.0 or MariaDB
//! reserves, unquoted.

use super::{Context, Hit, Rule, constraint_name, created_table, indexes, table_definition};
use crate::sql::Token;
use didhub_migrations::Backend;

pub(super) const RULE: Rule = Rule {
    id: "MY003",
    dialects: &[Backend::MySql],
    in_down: true,
    title: "a reserved word as an unquoted name",
    reason: "A word reserved in MySQL 8.0 or MariaDB (`key`, `order`, `group`, `rank`, \
             `range`, `system`, `offset`, …) is a syntax error as an unquoted table, column, \
             index or constraint name on the server that reserves it, and every query that \
             names it must back-quote it. Servers reserve new words (MySQL 8.0 reserved \
             `rank`, `system` and `lead`; MariaDB 10.6 `offset`), so a file that runs on one \
             fails on another. Choose another name, or back-quote it here and in every query.",
    check: mysql_reserved_name,
};

/// Words reserved in MySQL 8.0 (marked (R) in its "Keywords and Reserved Words" list), then
/// those MariaDB reserves besides (its "Reserved Words" list).
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "ACCESSIBLE", "ADD", "ALL", "ALTER", "ANALYZE", "AND", "AS", "ASC", "ASENSITIVE", "BEFORE",
    "BETWEEN", "BIGINT", "BINARY", "BLOB", "BOTH", "BY", "CALL", "CASCADE", "CASE", "CHANGE",
    "CHAR", "CHARACTER", "CHECK", "COLLATE", "COLUMN", "CONDITION", "CONSTRAINT", "CONTINUE",
    "CONVERT", "CREATE", "CROSS", "CUBE", "CUME_DIST", "CURRENT_DATE", "CURRENT_TIME",
    "CURRENT_TIMESTAMP", "CURRENT_USER", "CURSOR", "DATABASE", "DATABASES", "DAY_HOUR",
    "DAY_MICROSECOND", "DAY_MINUTE", "DAY_SECOND", "DEC", "DECIMAL", "DECLARE", "DEFAULT",
    "DELAYED", "DELETE", "DENSE_RANK", "DESC", "DESCRIBE", "DETERMINISTIC", "DISTINCT",
    "DISTINCTROW", "DIV", "DOUBLE", "DROP", "DUAL", "EACH", "ELSE", "ELSEIF", "EMPTY", "ENCLOSED",
    "ESCAPED", "EXCEPT", "EXISTS", "EXIT", "EXPLAIN", "FALSE", "FETCH", "FIRST_VALUE", "FLOAT",
    "FLOAT4", "FLOAT8", "FOR", "FORCE", "FOREIGN", "FROM", "FULLTEXT", "FUNCTION", "GENERATED",
    "GET", "GRANT", "GROUP", "GROUPING", "GROUPS", "HAVING", "HIGH_PRIORITY", "HOUR_MICROSECOND",
    "HOUR_MINUTE", "HOUR_SECOND", "IF", "IGNORE", "IN", "INDEX", "INFILE", "INNER", "INOUT",
    "INSENSITIVE", "INSERT", "INT", "INT1", "INT2", "INT3", "INT4", "INT8", "INTEGER", "INTERSECT",
    "INTERVAL", "INTO", "IO_AFTER_GTIDS", "IO_BEFORE_GTIDS", "IS", "ITERATE", "JOIN", "JSON_TABLE",
    "KEY", "KEYS", "KILL", "LAG", "LAST_VALUE", "LATERAL", "LEAD", "LEADING", "LEAVE", "LEFT",
    "LIKE", "LIMIT", "LINEAR", "LINES", "LOAD", "LOCALTIME", "LOCALTIMESTAMP", "LOCK", "LONG",
    "LONGBLOB", "LONGTEXT", "LOOP", "LOW_PRIORITY", "MASTER_BIND", "MASTER_SSL_VERIFY_SERVER_CERT",
    "MATCH", "MAXVALUE", "MEDIUMBLOB", "MEDIUMINT", "MEDIUMTEXT", "MIDDLEINT", "MINUTE_MICROSECOND",
    "MINUTE_SECOND", "MOD", "MODIFIES", "NATURAL", "NOT", "NO_WRITE_TO_BINLOG", "NTH_VALUE",
    "NTILE", "NULL", "NUMERIC", "OF", "ON", "OPTIMIZE", "OPTIMIZER_COSTS", "OPTION", "OPTIONALLY",
    "OR", "ORDER", "OUT", "OUTER", "OUTFILE", "OVER", "PARTITION", "PERCENT_RANK", "PRECISION",
    "PRIMARY", "PROCEDURE", "PURGE", "RANGE", "RANK", "READ", "READS", "READ_WRITE", "REAL",
    "RECURSIVE", "REFERENCES", "REGEXP", "RELEASE", "RENAME", "REPEAT", "REPLACE", "REQUIRE",
    "RESIGNAL", "RESTRICT", "RETURN", "REVOKE", "RIGHT", "RLIKE", "ROW", "ROWS", "ROW_NUMBER",
    "SCHEMA", "SCHEMAS", "SECOND_MICROSECOND", "SELECT", "SENSITIVE", "SEPARATOR", "SET", "SHOW",
    "SIGNAL", "SMALLINT", "SPATIAL", "SPECIFIC", "SQL", "SQLEXCEPTION", "SQLSTATE", "SQLWARNING",
    "SQL_BIG_RESULT", "SQL_CALC_FOUND_ROWS", "SQL_SMALL_RESULT", "SSL", "STARTING", "STORED",
    "STRAIGHT_JOIN", "SYSTEM", "TABLE", "TERMINATED", "THEN", "TINYBLOB", "TINYINT", "TINYTEXT",
    "TO", "TRAILING", "TRIGGER", "TRUE", "UNDO", "UNION", "UNIQUE", "UNLOCK", "UNSIGNED", "UPDATE",
    "USAGE", "USE", "USING", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "VALUES", "VARBINARY",
    "VARCHAR", "VARCHARACTER", "VARYING", "VIRTUAL", "WHEN", "WHERE", "WHILE", "WINDOW", "WITH",
    "WRITE", "XOR", "YEAR_MONTH", "ZEROFILL",
    // MariaDB's besides.
    "CURRENT_ROLE", "DELETE_DOMAIN_ID", "DO_DOMAIN_IDS", "GENERAL", "IGNORE_DOMAIN_IDS",
    "IGNORE_SERVER_IDS", "MASTER_HEARTBEAT_PERIOD", "OFFSET", "PAGE_CHECKSUM", "PARSE_VCOL_EXPR",
    "POSITION", "REF_SYSTEM_ID", "RETURNING", "SLOW", "STATS_AUTO_RECALC", "STATS_PERSISTENT",
    "STATS_SAMPLE_PAGES",
];

/// Whether `token` is an unquoted reserved word.
fn reserved(token: &Token) -> bool {
    matches!(token, Token::Word(w) if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)))
}

fn mysql_reserved_name(cx: &Context<'_>) -> Vec<Hit> {
    let statement = cx.statement();
    let tokens = &statement.tokens;
    // Each name: its token, what it names, and the table it belongs to.
    let mut names: Vec<(&Token, &str, String)> = Vec::new();
    if let Some((table, after)) = created_table(statement) {
        // `schema.name` needs no quotes: after a `.` only a name can follow.
        if tokens[after - 2] != Token::Symbol('.') {
            names.push((&tokens[after - 1], "table", table));
        }
    }
    if let Some(definition) = table_definition(statement) {
        for column in &definition.columns {
            names.push((column.name, "column", definition.table.clone()));
        }
        for element in &definition.elements {
            if let (Some(name), _) = constraint_name(element) {
                names.push((name, "constraint", definition.table.clone()));
            }
        }
    }
    for index in indexes(statement) {
        names.extend(index.name.map(|name| (name, "index", index.table)));
    }
    names
        .into_iter()
        .filter(|(name, _, _)| reserved(name))
        .map(|(name, what, table)| {
            let word = name.ident().unwrap_or_default();
            let named = match what {
                "table" => format!("table {word}"),
                "column" => format!("column {table}.{word}"),
                _ => format!("{what} {word} on {table}"),
            };
            cx.hit_at(
                name,
                format!(
                    "{named}: {} is reserved in MySQL 8.0 or MariaDB, and not quoted",
                    word.to_uppercase()
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{NONE, details, down, silenced, up};
    use crate::migration_file::Direction;
    use didhub_migrations::Backend;

    #[test]
    fn my003_flags_reserved_words_as_unquoted_names() {
        let sql = "CREATE TABLE `order` (\n    id INT,\n    `key` TEXT,\n    rank INT,\n    \
                   description TEXT,\n    CONSTRAINT condition CHECK (rank > 0),\n    \
                   INDEX range (id)\n);\n\
                   CREATE TABLE system (id INT);\n\
                   CREATE TABLE didhub.interval (id INT);\n\
                   ALTER TABLE alters ADD COLUMN lag INT, MODIFY COLUMN `lead` INT, CHANGE a window INT;\n\
                   CREATE UNIQUE INDEX release ON alters (id);\n";
        assert_eq!(up(Backend::MySql, "MY003", sql), [4, 6, 7, 9, 11, 11, 12]);
        assert_eq!(down(Backend::MySql, "MY003", sql), [4, 6, 7, 9, 11, 11, 12]);
        silenced(Backend::MySql, "MY003", sql);
        assert_eq!(up(Backend::Sqlite, "MY003", sql), NONE);
        let details = details(Backend::MySql, Direction::Up, sql);
        assert_eq!(
            details,
            [
                "column order.rank: RANK is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "constraint condition on order: CONDITION is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "index range on order: RANGE is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "table system: SYSTEM is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "column alters.lag: LAG is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "column alters.window: WINDOW is reserved in MySQL 8.0 or MariaDB, and not quoted",
                "index release on alters: RELEASE is reserved in MySQL 8.0 or MariaDB, and not quoted",
            ]
        );
    }

    #[test]
    fn my003_passes_back_quoted_names_and_keywords_used_as_keywords() {
        let sql = "CREATE TABLE `groups` (\n    `key` VARCHAR(64) NOT NULL PRIMARY KEY,\n    \
                   `order` INT NOT NULL DEFAULT 0 CHECK (`order` >= 0),\n    \
                   created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n    \
                   UNIQUE KEY (`order`),\n    CONSTRAINT fk_g FOREIGN KEY (`key`) REFERENCES k (id) ON DELETE SET NULL\n\
                   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\
                   CREATE INDEX idx_groups_order USING BTREE ON `groups` (`order` DESC);\n";
        assert_eq!(up(Backend::MySql, "MY003", sql), NONE);
    }
}
