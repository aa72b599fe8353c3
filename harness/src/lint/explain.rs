//! `didhub-harness lint --explain`: every rule, whether it runs by default and for the
//! project, why, and where it is documented — so that a project can see what it opted into
//! before it reads a finding.

use std::fmt::Write;

use squawk_linter::Rule as SquawkRule;

use super::{Policy, REPLACED, RULES, RuleId, squawk};

/// Why a rule runs by default or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A statement that blocks reads or writes, rewrites a table, breaks the clients still
    /// running, loses data or fails: on by default.
    Hazard,
    /// A house style rather than a hazard ([`squawk::POLICY`]), with why: off by default.
    Policy(&'static str),
    /// squawk's own opt-in rules: off by default.
    OptIn,
    /// A name that stands for other rules (`require-timeout-settings`).
    Alias,
    /// squawk's check of its `-- squawk-ignore` comments.
    Comments,
}

impl Kind {
    fn of(rule: SquawkRule) -> Kind {
        if let Some(why) = squawk::policy_reason(rule) {
            Kind::Policy(why)
        } else if !rule.expands_to().is_empty() {
            Kind::Alias
        } else if rule == SquawkRule::UnusedIgnore {
            Kind::Comments
        } else if rule.is_opt_in() {
            Kind::OptIn
        } else {
            Kind::Hazard
        }
    }

    /// `on`/`off` by default, and the kind in a word.
    fn default(self) -> &'static str {
        match self {
            Kind::Hazard => "on (hazard)",
            Kind::Policy(_) => "off (policy)",
            Kind::OptIn => "off (squawk's opt-in)",
            Kind::Alias => "off (an alias)",
            Kind::Comments => "on (squawk-ignore comments)",
        }
    }
}

const LEGEND: &str = "\
Every lint rule. `default` is whether it runs for a project whose settings say nothing, `here` \
whether it runs for this one (its didhub-harness.toml, [lint]).
  hazard: flags a statement that blocks reads or writes, rewrites a table, breaks the clients \
still running, loses data or fails; on unless [[lint.exclude]] turns it off, with a reason.
  policy: a house style rather than a hazard (a column type, a timeout set in each file, a \
statement written to be re-run); off unless `policy = true` or `include = [\"name\"]`.
  squawk's opt-in: rules squawk itself runs only when asked; off unless `include` names them.
";

/// Every rule (DIDHub's, then squawk's), each with whether it runs by default and why,
/// whether it runs under `policy` (the project's settings) and why, and its documentation.
pub fn explain(policy: &Policy) -> String {
    let mut out = String::from(LEGEND);
    out.push_str(
        "\nDIDHub's rules (SQLite and MySQL; the table in docs/migrations.md, \"Lint\"):\n",
    );
    for rule in RULES {
        let here = match policy.exclusion(RuleId::Own(rule)) {
            Some(reason) => format!("off ([[lint.exclude]]: {})", squawk::one_line(reason, 100)),
            None => "on".to_owned(),
        };
        let dialects: Vec<String> = rule.dialects.iter().map(|d| d.to_string()).collect();
        let files = if rule.in_down { "" } else { "; up files only" };
        let _ = writeln!(
            out,
            "{}: default {}, here {here}\n    {} ({}{files})\n    docs: docs/migrations.md#lint",
            rule.id,
            Kind::Hazard.default(),
            rule.title,
            dialects.join(", "),
        );
    }
    out.push_str("\nsquawk's rules (PostgreSQL; https://squawkhq.com/docs/rules):\n");
    for rule in enum_iterator::all::<SquawkRule>() {
        let kind = Kind::of(rule);
        let _ = write!(
            out,
            "{rule}: default {}, here {}",
            kind.default(),
            here(policy, rule, kind)
        );
        if let Some((id, _)) = REPLACED.iter().find(|(_, r)| *r == rule) {
            let _ = write!(out, " (DIDHub's {id} before squawk)");
        }
        match kind {
            Kind::Policy(why) => {
                let _ = write!(out, "\n    off by default: {why}");
            }
            Kind::Alias => {
                let names: Vec<String> = rule.expands_to().iter().map(|r| r.to_string()).collect();
                let _ = write!(out, "\n    names {} at once", names.join(" and "));
            }
            Kind::Comments => {
                out.push_str("\n    a `-- squawk-ignore` comment that names no rule");
            }
            Kind::Hazard | Kind::OptIn => {}
        }
        if squawk::NOT_IN_DOWN.contains(&rule) {
            out.push_str("\n    up files only: a down drops what its up created");
        }
        let _ = writeln!(out, "\n    docs: {}", squawk::doc_url(rule));
    }
    out
}

/// Whether squawk's `rule` runs for the project, and what decided it.
fn here(policy: &Policy, rule: SquawkRule, kind: Kind) -> String {
    let name = rule.to_string();
    if let Some(reason) = policy.exclusion(RuleId::Squawk(rule)) {
        return format!("off ([[lint.exclude]]: {})", squawk::one_line(reason, 100));
    }
    match (kind, policy.squawk.runs(rule)) {
        (Kind::Policy(_), true) if policy.squawk.policy => "on (policy = true)".to_owned(),
        (Kind::Policy(_) | Kind::OptIn | Kind::Alias, true) => "on (include)".to_owned(),
        (Kind::Policy(_), false) => {
            format!("off (`policy = true` or `include = [\"{name}\"]` turns it on)")
        }
        (Kind::OptIn | Kind::Alias, false) => {
            format!("off (`include = [\"{name}\"]` turns it on)")
        }
        (Kind::Hazard | Kind::Comments, on) => if on { "on" } else { "off" }.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::Settings;

    fn explained(toml: &str) -> String {
        let settings: Settings = toml::from_str(toml).expect("valid TOML");
        explain(&settings.policy("didhub-harness.toml").unwrap())
    }

    /// The paragraph of `rule`: its line and the indented lines after it.
    fn paragraph(text: &str, rule: &str) -> String {
        let mut lines = text
            .lines()
            .skip_while(|l| !l.starts_with(&format!("{rule}: ")));
        let first = lines
            .next()
            .unwrap_or_else(|| panic!("{rule} is not explained:\n{text}"));
        std::iter::once(first)
            .chain(lines.take_while(|l| l.starts_with("    ")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_rule_is_explained_with_its_default_and_its_documentation() {
        let text = explained("");
        for rule in RULES {
            let p = paragraph(&text, rule.id);
            assert!(p.contains("default on (hazard), here on"), "{p}");
            assert!(p.contains("docs: docs/migrations.md#lint"), "{p}");
        }
        for rule in enum_iterator::all::<SquawkRule>() {
            let p = paragraph(&text, &rule.to_string());
            assert!(
                p.contains(&format!("docs: https://squawkhq.com/docs/{rule}")),
                "{p}"
            );
        }
        let hazard = paragraph(&text, "require-concurrent-index-creation");
        assert!(hazard.starts_with(
            "require-concurrent-index-creation: default on (hazard), here on (DIDHub's PG001"
        ));
        let policy = paragraph(&text, "prefer-text-field");
        assert!(policy.starts_with(
            "prefer-text-field: default off (policy), here off (`policy = true` or \
             `include = [\"prefer-text-field\"]` turns it on)\n    off by default: `varchar(n)`"
        ));
        let opt_in = paragraph(&text, "ban-drop-index");
        assert!(opt_in.starts_with(
            "ban-drop-index: default off (squawk's opt-in), here off (`include = [\"ban-drop-index\"]`"
        ));
        assert!(opt_in.contains("up files only"), "{opt_in}");
    }

    #[test]
    fn the_project_column_follows_its_settings() {
        let text = explained(
            "policy = true\ninclude = [\"ban-drop-index\"]\n\
             [[exclude]]\nrule = \"require-lock-timeout\"\nreason = \"the runner sets it\"\n\
             [[exclude]]\nrule = \"MY006\"\nreason = \"no dates before 1970\"\n",
        );
        assert!(paragraph(&text, "prefer-text-field").contains("here on (policy = true)"));
        assert!(paragraph(&text, "ban-drop-index").contains("here on (include)"));
        assert!(
            paragraph(&text, "require-lock-timeout")
                .contains("here off ([[lint.exclude]]: the runner sets it)")
        );
        assert!(
            paragraph(&text, "MY006").contains("here off ([[lint.exclude]]: no dates before 1970)")
        );
        let one = explained("include = [\"prefer-identity\"]");
        assert!(
            paragraph(&one, "prefer-identity").contains("default off (policy), here on (include)")
        );
        assert!(paragraph(&one, "prefer-text-field").contains("here off"));
    }
}
