//! The canonical form of a row, the same whichever backend it was read from: one line, a JSON
//! object with the columns sorted by name and every value as text (`null` for SQL NULL), each
//! value spelt one way — booleans `true`/`false`, JSON compact with its object keys sorted
//! (PostgreSQL's JSONB and MySQL reorder keys; SQLite keeps the text as written), timestamps in
//! UTC with microseconds (`2024-05-01T09:30:00.000000Z`), UUIDs lower-case and hyphenated.
//!
//! Written once for the harness, which compares any project's rows across backends with it, and
//! the server, whose table digests (`db copy`, restore) hash it.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// A row in canonical form: column → value as text (`None` is SQL NULL).
pub type Row = BTreeMap<String, Option<String>>;

/// One row as one line (see the module documentation).
pub fn render(row: &Row) -> String {
    let mut out = String::new();
    write_row(
        row.iter()
            .map(|(column, value)| (column.as_str(), value.as_deref())),
        &mut out,
    );
    out
}

/// [`render`] of the row whose cells are `cells`, given in column-name order, appended to `out`:
/// for rows read by the million, without building a [`Row`] each.
pub fn write_row<'a>(
    cells: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    out: &mut String,
) {
    out.push('{');
    for (i, (column, value)) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(column, out);
        out.push(':');
        match value {
            Some(v) => write_string(v, out),
            None => out.push_str("null"),
        }
    }
    out.push('}');
}

/// `text` as a JSON string.
fn write_string(text: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(text).expect("a string serialises"));
}

/// `true` or `false`.
pub fn boolean(value: bool) -> String {
    value.to_string()
}

/// `2024-05-01T09:30:00.000000Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Compact JSON with object keys sorted at every level.
pub fn json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn json_keys_are_sorted_at_every_level_and_nothing_else_changes() {
        assert_eq!(
            json(&json!({"b": [true, {"y": 2, "x": "é"}], "a": null})),
            r#"{"a":null,"b":[true,{"x":"é","y":2}]}"#
        );
    }

    #[test]
    fn a_row_is_one_line_with_its_columns_sorted_and_null_apart_from_text() {
        let row: Row = [
            ("name".to_owned(), Some("null".to_owned())),
            ("id".to_owned(), None),
            ("note".to_owned(), Some("a \"b\"\n".to_owned())),
        ]
        .into();
        assert_eq!(
            render(&row),
            r#"{"id":null,"name":"null","note":"a \"b\"\n"}"#
        );
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap();
        assert_eq!(timestamp(t), "2024-05-01T09:30:00.000000Z");
        assert_eq!(boolean(false), "false");
    }
}
